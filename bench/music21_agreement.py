#!/usr/bin/python3
"""How closely `continuo corpus --tokens original` follows the real music21.

For every MIDI file of the folders given, the tokens the original project's lstm.py made
(music21's converter.parse, partitionByInstrument, parts[0].recurse(), a note's pitch name,
a chord's normalOrder joined by dots) are set beside continuo's, matched in order (the
longest matching blocks), and counted against music21's. Prints each folder's agreement,
its exact files and its worst files with their first disagreement.

    bench/music21_agreement.py [--music21 DIR] [--continuo BIN] [--cache DIR] FOLDER...

DIR holds the music21 package, or is a .tar.xz or .tar.gz of it (unpacked into the cache
once); music21 v5.7.2 is the version the original project's tokens came from. Without it,
or when music21 cannot be imported, this says so and exits with 77 (skipped). music21's tokens are kept in the cache folder (by the file's hash), so
that a second run reads only continuo's.
"""
import argparse
import difflib
import glob
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile


def music21_tokens(path):
    from music21 import converter, instrument, note, chord
    midi = converter.parse(path)
    try:  # as lstm.py: the first instrument's part, or the flat notes
        parts = instrument.partitionByInstrument(midi)
        elements = parts.parts[0].recurse()
    except Exception:
        elements = midi.flat.notes
    tokens = []
    for element in elements:
        if isinstance(element, note.Note):
            tokens.append(str(element.pitch))
        elif isinstance(element, chord.Chord):
            tokens.append('.'.join(str(n) for n in element.normalOrder))
    return tokens


def cached_music21(path, cache):
    with open(path, 'rb') as f:
        digest = hashlib.sha1(f.read()).hexdigest()
    kept = os.path.join(cache, digest + '.json')
    if os.path.exists(kept):
        with open(kept) as f:
            return json.load(f)
    try:
        tokens = music21_tokens(path)
    except Exception as e:  # music21 refuses some files; so be it, counted apart
        tokens = {'error': '%s: %s' % (type(e).__name__, e)}
    with open(kept + '.tmp', 'w') as f:
        json.dump(tokens, f)
    os.replace(kept + '.tmp', kept)
    return tokens


def continuo_tokens(path, binary):
    with tempfile.TemporaryDirectory() as folder:
        os.symlink(os.path.abspath(path), os.path.join(folder, os.path.basename(path)))
        dump = os.path.join(folder, 'tokens.txt')
        done = subprocess.run([binary, 'corpus', '--tokens', 'original', '--quiet', '--dump',
                               dump, folder], capture_output=True, text=True)
        if done.returncode != 0 or not os.path.exists(dump):
            return None
        with open(dump) as f:
            return f.read().split()


def agreement(theirs, ours):
    matcher = difflib.SequenceMatcher(None, theirs, ours, autojunk=False)
    same = sum(block.size for block in matcher.get_matching_blocks())
    first = None
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag != 'equal':
            first = (i1, theirs[i1:min(i2, i1 + 6)], ours[j1:min(j2, j1 + 6)])
            break
    return same, first


def measure(folder, binary, cache, n_worst):
    files = sorted(glob.glob(os.path.join(folder, '*.mid')) +
                   glob.glob(os.path.join(folder, '*.midi')))
    total = ours_total = same_total = exact = 0
    rows, refused = [], []
    for path in files:
        theirs = cached_music21(path, cache)
        if isinstance(theirs, dict):
            refused.append((os.path.basename(path), theirs['error']))
            continue
        if not theirs:
            continue  # no notes: lstm.py takes nothing from it
        ours = continuo_tokens(path, binary) or []
        same, first = agreement(theirs, ours)
        total += len(theirs)
        ours_total += len(ours)
        same_total += same
        exact += theirs == ours
        if theirs != ours:  # by the worse of the two shares
            share = min(same / len(theirs), same / max(len(ours), 1))
            rows.append((share, os.path.basename(path), len(theirs), len(ours), first))
    print('%s: %d files with notes, %d exact; of music21\'s %d tokens %.3f %% agree (in '
          'order), of continuo\'s %d %.3f %%'
          % (folder, exact + len(rows), exact, total, 100.0 * same_total / max(total, 1),
             ours_total, 100.0 * same_total / max(ours_total, 1)))
    for share, name, n_theirs, n_ours, first in sorted(rows)[:n_worst]:
        print('  %-40s %.3f  (music21 %d tokens, continuo %d)' % (name, share, n_theirs, n_ours))
        if first:
            print('      first difference at %d: music21 %s, continuo %s'
                  % (first[0], ' '.join(first[1]) or '-', ' '.join(first[2]) or '-'))
    for name, error in refused:
        print('  %-40s music21 refused it: %s' % (name, error[:100]))
    return same_total, total


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--music21', help='the folder holding the music21 package')
    parser.add_argument('--continuo', default=os.path.join(here, '..', 'build', 'continuo'))
    parser.add_argument('--cache', default=os.path.join(
        os.environ.get('XDG_CACHE_HOME', os.path.expanduser('~/.cache')), 'continuo-music21'))
    parser.add_argument('--worst', type=int, default=8)
    parser.add_argument('folders', nargs='+')
    args = parser.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    if args.music21 and args.music21.endswith(('.tar.xz', '.tar.gz')):
        unpacked = os.path.join(args.cache, 'music21-' + hashlib.sha1(
            os.path.abspath(args.music21).encode()).hexdigest()[:12])
        if not os.path.isdir(unpacked):
            with tarfile.open(args.music21) as archive:
                archive.extractall(unpacked + '.tmp')
            os.replace(unpacked + '.tmp', unpacked)
        args.music21 = unpacked
    if args.music21:
        sys.path.insert(0, args.music21)
    try:
        import music21
    except ImportError as e:
        print('skipped: music21 cannot be imported (%s); give --music21 DIR' % e)
        return 77
    print('music21 %s from %s' % (music21.VERSION_STR, os.path.dirname(music21.__file__)))
    for folder in args.folders:
        measure(folder, args.continuo, args.cache, args.worst)
    return 0


if __name__ == '__main__':
    sys.exit(main())
