/* Pictures people can look at: a piano roll of a MIDI file and the loss curves of a
 * training run, as standalone SVG files. */
#ifndef CONTINUO_SVG_H
#define CONTINUO_SVG_H

#include <stddef.h>

#include "continuo/midi_file.h"
#include "continuo/status.h"

/* Time runs left to right, pitch bottom to top; one <rect class="note"> per note (chords
 * are notes stacked at one time), beat lines thin, bar lines (from the file's time
 * signature) strong, black-key rows shaded, octaves labelled. Notes of a track named
 * "prime" (as `continuo generate` writes) are drawn in another colour. */
int cn_svg_piano_roll(const CnMidi *midi, const char *title, const char *path, CnError *err);

typedef struct {
    int epoch;
    double train_loss, val_loss; /* NAN when unknown */
} CnLossPoint;

/* Training and validation loss against epoch: one <circle class="train"> (and
 * class="val" where known) per epoch, joined by lines. */
int cn_svg_loss_curves(const CnLossPoint *points, size_t n_points, const char *title,
                       const char *path, CnError *err);

/* Reads the per-epoch CSV `continuo train` writes into points (malloc'd, free() it). */
int cn_read_loss_csv(const char *csv_path, CnLossPoint **points, size_t *n_points, CnError *err);

#endif
