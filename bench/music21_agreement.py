"""How closely `continuo corpus` agrees with music21's own MIDI import, token for token, the
way the original Keras project read its files (get_notes in lstm.py: the first
instrument's part from partitionByInstrument, else every note; a note's pitch name, a
chord's normal order). Agreement of a file: tokens in order that both streams share (the
longest matching blocks, difflib), over music21's token count.

Usage: python3 bench/music21_agreement.py CONTINUO_BINARY MIDI_DIR
Needs music21 (pip install music21); continuo itself never does.
"""
import difflib
import os
import subprocess
import sys
import tempfile

try:
    from music21 import chord, converter, instrument, note
except ImportError:
    print("skipped: music21 is not installed (pip install music21)")
    sys.exit(0)


def music21_tokens(path):
    midi = converter.parse(path)
    parts = instrument.partitionByInstrument(midi)
    elements = parts.parts[0].recurse() if parts else midi.flat.notes
    tokens = []
    for e in elements:
        if isinstance(e, note.Note):
            tokens.append(str(e.pitch))
        elif isinstance(e, chord.Chord):
            tokens.append(".".join(str(n) for n in e.normalOrder))
    return tokens


def continuo_tokens(binary, path):
    with tempfile.TemporaryDirectory() as d:
        os.symlink(os.path.abspath(path), os.path.join(d, os.path.basename(path)))
        dump = os.path.join(d, "tokens.txt")
        subprocess.run([binary, "corpus", "-q", "--dump", dump, d], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return open(dump).read().split()


def main():
    binary, folder = sys.argv[1], sys.argv[2]
    shared = total = exact = files = 0
    for name in sorted(os.listdir(folder)):
        if not name.lower().endswith((".mid", ".midi")):
            continue
        path = os.path.join(folder, name)
        try:
            ours, theirs = continuo_tokens(binary, path), music21_tokens(path)
        except Exception as e:  # music21 fails on some files; say so and go on
            print("%-50s music21 failed: %s" % (name, e))
            continue
        blocks = difflib.SequenceMatcher(None, theirs, ours, autojunk=False).get_matching_blocks()
        same = sum(b.size for b in blocks)
        files += 1
        shared += same
        total += len(theirs)
        exact += ours == theirs
        print("%-50s %6d tokens, %5.1f %% agree" % (name, len(theirs),
                                                     100.0 * same / max(len(theirs), 1)))
    print("%d files, %d of them exactly; %.1f %% of music21's %d tokens agree in order"
          % (files, exact, 100.0 * shared / max(total, 1), total))


if __name__ == "__main__":
    main()
