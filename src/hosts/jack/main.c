/* continuo-jack: `continuo jack` as a program of its own, which `continuo` runs, so that
 * only this one needs the JACK libraries. */
#include "cli.h"

int main(int argc, char **argv)
{
    return cmd_jack(argc, argv);
}
