/* Rendering MIDI to audio with FluidSynth (an external program), and measuring the result
 * so that a silent render is noticed. */
#ifndef CONTINUO_CLI_RENDER_H
#define CONTINUO_CLI_RENDER_H

/* Renders midi_path to wav_path (44.1 kHz) with soundfont (NULL: Debian's General MIDI
 * font). Returns 0, or prints why (FluidSynth or the font missing, the render failed or
 * came out silent) and returns non-zero. *seconds and *rms_dbfs describe the file. */
int render_wav(const char *midi_path, const char *wav_path, const char *soundfont,
               double *seconds, double *rms_dbfs);

/* Length and loudness of a 16-bit PCM WAV file; -1 when it is not one. */
int measure_wav(const char *wav_path, double *seconds, double *rms_dbfs);

#endif
