/* The plans of an epoch's batches: which tokens each lane of a batch trains on, for
 * either objective, and each song's transposition. Internal to the trainer. */
#ifndef CONTINUO_PLANS_H
#define CONTINUO_PLANS_H

#include "continuo/model.h"
#include "continuo/train.h"
#include "net_batch.h"
#include "continuo/rng.h"

/* Objective "all": the songs (shuffled) form one stream, cut into n_lanes slices of equal
 * length; chunk k holds steps k*seq.. of every lane. A song starts from a zero state, and
 * so does a lane that begins inside a song (at most n_lanes - 1 such cuts an epoch), so
 * every lane does the same work and no step is spent on padding. */
typedef struct {
    int32_t *ids, *targets; /* (total) the stream */
    uint8_t *keep;
    size_t total, lane_len;
    int n_lanes;
    long n_chunks;
} LanePlan;

/* Objective "last": every window of seq tokens of the concatenated songs (as the original
 * concatenated all files), shuffled each epoch. */
typedef struct {
    int32_t *stream;
    size_t n_stream;
    uint32_t *order; /* (n_windows) window starts in the order they are trained */
    size_t n_windows;
    long n_batches;
} WindowPlan;

/* Transposition: each training song moved by an interval drawn for it every epoch. */
typedef struct {
    int lo, hi;       /* semitones; both 0: off */
    uint16_t *map;    /* (hi - lo + 1, n_vocab) the id of each token moved by lo + row */
    int n_vocab;
    CnRng rng;        /* the epoch's draws, seeded from the run's seed and the epoch */
} Transposer;

/* The ids of a song, moved by this epoch's next interval for it. */
const uint16_t *cn_song_map(Transposer *tr);

void cn_shuffle(uint32_t *a, size_t n, CnRng *rng);

void cn_lane_plan_free(LanePlan *p);

int cn_lane_plan_make(LanePlan *p, const CnSongIds *songs, size_t n_songs, int n_lanes,
                      int seq, CnRng *order_rng, Transposer *tr, CnError *err);

/* The chunk's steps of nb's lanes (lanes lane_first.. of the plan's when ranks share it). */
void cn_lane_plan_fill(const LanePlan *p, NetBatch *nb, long chunk);

void cn_window_plan_free(WindowPlan *p);

/* The songs, concatenated, each moved by its interval of the epoch when tr is given. */
void cn_window_plan_stream(WindowPlan *p, const CnSongIds *songs, size_t n_songs,
                           Transposer *tr);

int cn_window_plan_make(WindowPlan *p, const CnSongIds *songs, size_t n_songs, int seq,
                        int batch, CnError *err);

void cn_window_plan_fill(const WindowPlan *p, NetBatch *nb, long batch_index);

/* The id of every token moved by every interval of the options' range; a token the
 * vocabulary lacks moved becomes the nearest it has. */
int cn_transposer_init(Transposer *tr, const CnModel *m, const CnTrainOptions *o,
                       CnError *err);

#endif
