/* The tempi continuo plays at and follows (a --bpm, a score's, a host's transport, a MIDI
 * clock): one range for all of them. */
#ifndef CONTINUO_TEMPO_H
#define CONTINUO_TEMPO_H

#define CN_BPM_MIN 10
#define CN_BPM_MAX 400

/* Whether bpm lies in that range (NaN does not). */
static inline int cn_bpm_in_range(double bpm)
{
    return bpm >= CN_BPM_MIN && bpm <= CN_BPM_MAX;
}

#endif
