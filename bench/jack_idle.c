/* The real-time benchmark's baseline: a JACK client in continuo's place in the graph (its
 * name, a MIDI input and a MIDI output, the same connections to the player) that does
 * nothing in its process callback but clear its output. The xruns a server has with this
 * client are what the graph costs on the machine; continuo's are measured against them. */
#include <jack/jack.h>
#include <jack/midiport.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static jack_port_t *in, *out;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int process(jack_nframes_t n, void *arg)
{
    (void)arg;
    (void)jack_port_get_buffer(in, n);
    jack_midi_clear_buffer(jack_port_get_buffer(out, n));
    return 0;
}

int main(void)
{
    jack_client_t *client = jack_client_open("continuo", JackNoStartServer, NULL);
    if (!client) {
        fprintf(stderr, "jack_idle: no JACK server to join\n");
        return 1;
    }
    in = jack_port_register(client, "in", JACK_DEFAULT_MIDI_TYPE, JackPortIsInput, 0);
    out = jack_port_register(client, "out", JACK_DEFAULT_MIDI_TYPE, JackPortIsOutput, 0);
    if (!in || !out || jack_set_process_callback(client, process, NULL) ||
        jack_activate(client)) {
        fprintf(stderr, "jack_idle: cannot register or activate\n");
        jack_client_close(client);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop)
        pause();
    jack_client_close(client);
    return 0;
}
