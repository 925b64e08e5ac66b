/* SVG drawings: piano roll and loss curves. Written with stdio, escaped text, fixed
 * sizes; no library needed to read them (any browser shows them). */
#include "continuo/svg.h"

#include "continuo/files.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void write_escaped(FILE *f, const char *text)
{
    for (; text && *text; text++) {
        switch (*text) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*text >= 0x20)
                fputc(*text, f);
        }
    }
}

/* ----- Piano roll ----------------------------------------------------------------------- */

#define ROLL_LEFT 48.0   /* room for octave labels */
#define ROLL_TOP 36.0    /* room for the title */
#define KEY_HEIGHT 7.0
#define MAX_WIDTH 12000.0
#define MIN_LINE_SPACING 4.0 /* pixels between beat lines; fewer lines when beats are closer */

static int is_black(int key)
{
    int pc = key % 12;
    return pc == 1 || pc == 3 || pc == 6 || pc == 8 || pc == 10;
}

static int track_is_prime(const CnMidi *m, unsigned track)
{
    return m->track_names && track < m->n_tracks && strcmp(m->track_names[track], "prime") == 0;
}

int cn_svg_piano_roll(const CnMidi *midi, const char *title, const char *path, CnError *err)
{
    if (midi->n_notes == 0)
        return cn_fail(err, "no notes to draw");
    int low = 127, high = 0;
    double end_beats = 0, beat_ticks = midi->ppqn * 4.0 / midi->beat_unit;
    for (size_t i = 0; i < midi->n_notes; i++) {
        const CnNote *n = &midi->notes[i];
        low = n->pitch < low ? n->pitch : low;
        high = n->pitch > high ? n->pitch : high;
        double end = (n->onset + n->duration) / beat_ticks;
        end_beats = end > end_beats ? end : end_beats;
    }
    low = low - 2 < 0 ? 0 : low - 2;
    high = high + 2 > 127 ? 127 : high + 2;
    double beat_px = fmin(24.0, MAX_WIDTH / (end_beats + 1));
    double width = ROLL_LEFT + (ceil(end_beats) + 1) * beat_px + 10;
    double height = ROLL_TOP + (high - low + 1) * KEY_HEIGHT + 24;
    CnOutFile out;
    FILE *f = cn_outfile_fopen(&out, path, err); /* whole or not at all */
    if (!f)
        return -1;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
               "viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" font-size=\"11\">\n",
            width, height, width, height);
    fprintf(f, "<path d=\"M0 0H%.0fV%.0fH0Z\" fill=\"#fbfaf7\"/>\n<text x=\"%.0f\" y=\"20\" "
               "font-size=\"14\">", width, height, ROLL_LEFT);
    write_escaped(f, title);
    fprintf(f, "</text>\n");
    double right = ROLL_LEFT + ceil(end_beats) * beat_px;
    for (int key = low; key <= high; key++) { /* black-key rows and octave labels */
        double y = ROLL_TOP + (high - key) * KEY_HEIGHT;
        if (is_black(key))
            fprintf(f, "<path d=\"M%.0f %.1fH%.1fV%.1fH%.0fZ\" fill=\"#ecebe6\"/>\n", ROLL_LEFT, y,
                    right, y + KEY_HEIGHT, ROLL_LEFT);
        if (key % 12 == 0)
            fprintf(f, "<text x=\"4\" y=\"%.1f\">C%d</text>\n", y + KEY_HEIGHT, key / 12 - 1);
    }
    /* Every beat line, or every bar's, or every k-th bar's when they would crowd: the
       lines, like the width, stay bounded however long the music. */
    long per_bar = midi->beats_per_bar > 0 ? (long)midi->beats_per_bar : 4;
    long n_beats = (long)ceil(end_beats), step = 1;
    long label_bars = (long)ceil(40.0 / (beat_px * (double)per_bar)); /* labels 40 px apart */
    if (beat_px < MIN_LINE_SPACING) {
        step = (long)ceil(MIN_LINE_SPACING / beat_px);
        step = (step + per_bar - 1) / per_bar * per_bar;
    }
    for (long beat = 0; beat <= n_beats; beat += step) {
        int bar = beat % per_bar == 0;
        double x = ROLL_LEFT + (double)beat * beat_px;
        fprintf(f, "<line x1=\"%.1f\" y1=\"%.0f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                   "stroke-width=\"%s\"/>\n", x, ROLL_TOP, x, height - 24,
                bar ? "#8a8780" : "#d8d6cf", bar ? "1" : "0.5");
        if (bar && (beat / per_bar) % (label_bars > 0 ? label_bars : 1) == 0)
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\">%ld</text>\n", x + 2, height - 10,
                    beat / per_bar + 1);
    }
    for (size_t i = 0; i < midi->n_notes; i++) {
        const CnNote *n = &midi->notes[i];
        double x = ROLL_LEFT + n->onset / beat_ticks * beat_px;
        double w = fmax(1.0, n->duration / beat_ticks * beat_px - 0.5);
        double y = ROLL_TOP + (high - n->pitch) * KEY_HEIGHT + 0.5;
        int prime = track_is_prime(midi, n->track);
        fprintf(f, "<rect class=\"note%s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                   "rx=\"1.5\" fill=\"%s\" fill-opacity=\"%.2f\"/>\n", prime ? " prime" : "", x, y,
                w, KEY_HEIGHT - 1, prime ? "#8c8c8c" : "#2f6fb0", 0.45 + 0.55 * n->velocity / 127.0);
    }
    fprintf(f, "</svg>\n");
    return cn_outfile_fclose(f, &out, err);
}

/* ----- Loss curves ---------------------------------------------------------------------- */

int cn_read_loss_csv(const char *csv_path, CnLossPoint **points, size_t *n_points, CnError *err)
{
    *points = NULL;
    *n_points = 0;
    CnError why = {{0}};
    FILE *f = cn_fopen_regular(csv_path, &why);
    if (!f)
        return cn_fail(err, "cannot read %s: %s", csv_path, why.message);
    char line[512];
    size_t cap = 0;
    while (fgets(line, sizeof line, f)) {
        CnLossPoint p;
        double train_acc;
        char val_text[64];
        if (sscanf(line, "%d,%lf,%lf,%63[^,]", &p.epoch, &p.train_loss, &train_acc, val_text) != 4)
            continue; /* the header, or a damaged line */
        p.val_loss = strtod(val_text, NULL);
        if (*n_points == cap) {
            cap = cap ? 2 * cap : 64;
            CnLossPoint *grown = realloc(*points, cap * sizeof *grown);
            if (!grown) {
                fclose(f);
                free(*points);
                *points = NULL;
                return cn_fail(err, "out of memory");
            }
            *points = grown;
        }
        (*points)[(*n_points)++] = p;
    }
    fclose(f);
    return 0;
}

static void loss_series(FILE *f, const CnLossPoint *pts, size_t n, int val, double x0, double dx,
                        double y0, double height, double lo, double hi)
{
    const char *colour = val ? "#c2562f" : "#2f6fb0";
    fprintf(f, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\" points=\"", colour);
    for (size_t i = 0; i < n; i++) {
        double v = val ? pts[i].val_loss : pts[i].train_loss;
        if (!isnan(v))
            fprintf(f, "%.1f,%.1f ", x0 + i * dx, y0 + height * (hi - v) / (hi - lo));
    }
    fprintf(f, "\"/>\n");
    for (size_t i = 0; i < n; i++) {
        double v = val ? pts[i].val_loss : pts[i].train_loss;
        if (!isnan(v))
            fprintf(f, "<circle class=\"%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"2.5\" fill=\"%s\">"
                       "<title>epoch %d: %.4f</title></circle>\n", val ? "val" : "train",
                    x0 + i * dx, y0 + height * (hi - v) / (hi - lo), colour, pts[i].epoch, v);
    }
}

int cn_svg_loss_curves(const CnLossPoint *pts, size_t n, const char *title, const char *path,
                       CnError *err)
{
    if (n == 0)
        return cn_fail(err, "no epochs to draw");
    double lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++) {
        double v[2] = {pts[i].train_loss, pts[i].val_loss};
        for (int k = 0; k < 2; k++)
            if (!isnan(v[k])) {
                lo = fmin(lo, v[k]);
                hi = fmax(hi, v[k]);
            }
    }
    if (!(hi > lo))
        hi = lo + 1;
    double margin = (hi - lo) * 0.05;
    lo -= margin, hi += margin;
    double x0 = 60, y0 = 40, w = 640, h = 320;
    double dx = n > 1 ? w / (double)(n - 1) : 0;
    CnOutFile out;
    FILE *f = cn_outfile_fopen(&out, path, err); /* whole or not at all */
    if (!f)
        return -1;
    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/"
               "svg\" width=\"740\" height=\"420\" viewBox=\"0 0 740 420\" font-family=\"sans-"
               "serif\" font-size=\"11\">\n<path d=\"M0 0H740V420H0Z\" fill=\"#fbfaf7\"/>\n"
               "<text x=\"60\" y=\"22\" font-size=\"14\">");
    write_escaped(f, title);
    fprintf(f, "</text>\n");
    for (int k = 0; k <= 4; k++) { /* horizontal grid with loss values */
        double v = hi - (hi - lo) * k / 4, y = y0 + h * k / 4;
        fprintf(f, "<line x1=\"%.0f\" y1=\"%.1f\" x2=\"%.0f\" y2=\"%.1f\" stroke=\"#d8d6cf\"/>"
                   "<text x=\"8\" y=\"%.1f\">%.3f</text>\n", x0, y, x0 + w, y, y + 4, v);
    }
    fprintf(f, "<text x=\"%.0f\" y=\"%.0f\">epoch %d</text><text x=\"%.0f\" y=\"%.0f\" "
               "text-anchor=\"end\">epoch %d</text>\n", x0, y0 + h + 18, pts[0].epoch, x0 + w,
            y0 + h + 18, pts[n - 1].epoch);
    fprintf(f, "<text x=\"520\" y=\"22\" fill=\"#2f6fb0\">training loss</text><text x=\"620\" "
               "y=\"22\" fill=\"#c2562f\">validation loss</text>\n");
    loss_series(f, pts, n, 0, x0, dx, y0, h, lo, hi);
    loss_series(f, pts, n, 1, x0, dx, y0, h, lo, hi);
    fprintf(f, "</svg>\n");
    return cn_outfile_fclose(f, &out, err);
}
