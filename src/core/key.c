/* Keys: Krumhansl and Kessler's key finding, scales and relative keys. */
#include "continuo/key.h"

#include <math.h>

/* Krumhansl and Kessler's probe-tone ratings, tonic first. */
static const double major_profile[12] = {6.35, 2.23, 3.48, 2.33, 4.38, 4.09,
                                         2.52, 5.19, 2.39, 3.66, 2.29, 2.88};
static const double minor_profile[12] = {6.33, 2.68, 3.52, 5.38, 2.60, 3.53,
                                         2.54, 4.75, 3.98, 2.69, 3.34, 3.17};

static double correlation(const double *x, const double *y)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < 12; i++)
        mx += x[i] / 12, my += y[i] / 12;
    for (int i = 0; i < 12; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : 0;
}

int cn_key_of_weights(const double weight[12])
{
    double total = 0;
    for (int pc = 0; pc < 12; pc++)
        total += weight[pc];
    if (!(total > 0))
        return -1;
    int best = -1;
    double best_r = -2;
    for (int key = 0; key < 24; key++) {
        const double *profile = key < 12 ? major_profile : minor_profile;
        double rotated[12];
        for (int pc = 0; pc < 12; pc++)
            rotated[pc] = profile[(pc - key % 12 + 12) % 12];
        double r = correlation(weight, rotated);
        if (r > best_r)
            best = key, best_r = r;
    }
    return best;
}

int cn_key_of_notes(const CnNote *notes, size_t n_notes)
{
    double weight[12] = {0};
    for (size_t i = 0; i < n_notes; i++)
        weight[notes[i].pitch % 12] += notes[i].duration ? notes[i].duration : 1;
    return cn_key_of_weights(weight);
}

int cn_key_has(int key, int pitch_class)
{
    /* the major scale; the minor's natural scale with its raised seventh (harmonic) */
    static const unsigned major = 0xab5, minor = 0xdad;
    int degree = (pitch_class - key % 12 + 12) % 12;
    return ((key < 12 ? major : minor) >> degree) & 1;
}

int cn_keys_related(int a, int b)
{
    if (a < 0 || b < 0)
        return 0;
    if (a == b)
        return 1;
    int major = a < 12 ? a : b, minor = a < 12 ? b : a;
    return (major < 12) != (minor < 12) && (major + 9) % 12 == minor - 12;
}

const char *cn_key_name(int key)
{
    static const char *names[24] = {"C",  "C#", "D",  "Eb", "E",  "F",  "F#", "G",
                                    "Ab", "A",  "Bb", "B",  "c",  "c#", "d",  "eb",
                                    "e",  "f",  "f#", "g",  "g#", "a",  "bb", "b"};
    return key >= 0 && key < 24 ? names[key] : "?";
}
