/* Keys, as a listener hears them: Krumhansl and Kessler's key of a set of notes, and
 * whether a pitch class belongs to a key. What the measures of docs/EVAL.md and the
 * sampler's key guard (guide.h) share. */
#ifndef CONTINUO_KEY_H
#define CONTINUO_KEY_H

#include <stddef.h>

#include "continuo/midi_file.h"

/* Keys: 0..11 the major keys on C..B, 12..23 the minor ones. The Krumhansl-Kessler key of
 * notes (their pitch classes weighted by length, correlated with the 24 rotated profiles),
 * -1 for no notes; the same of twelve pitch-class weights (-1 when all are 0); whether a
 * pitch class is in a key's scale (a minor key's natural scale with its raised seventh);
 * whether two keys are the same or relative; a key's name ("Eb", "f#"). */
int cn_key_of_notes(const CnNote *notes, size_t n_notes);
int cn_key_of_weights(const double weight[12]);
int cn_key_has(int key, int pitch_class);
int cn_keys_related(int a, int b);
const char *cn_key_name(int key);

#endif
