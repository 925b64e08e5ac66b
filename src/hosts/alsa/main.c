/* continuo-alsa: `continuo alsa` as a program of its own, which `continuo` runs, so that
 * only this one needs the ALSA library. */
#include "cli.h"

int main(int argc, char **argv)
{
    return cmd_alsa(argc, argv);
}
