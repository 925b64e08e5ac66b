"""Writes small Keras model files of both versions of the original project's network the
way Keras saves them (HDF5 through h5py: model_config, model_weights, weight_names), its
notes pickle, and what a numpy forward pass of each predicts: the oracle the import is
tested against (no Keras needed). Also writes damaged and foreign model files.

Usage: /usr/bin/python3 make_keras.py OUT_DIR
"""
import json
import os
import pickle
import sys

import h5py
import numpy as np

SEQ = 30
UNITS = 8
DENSE = 6
GEN_LENGTH = 200
STARTS = (0, 17, 95)

# A corpus of notes and chords as music21 names them, sampled with some structure so
# that the model's input varies.
NAMES = ["C4", "E-4", "G4", "B-3", "F#5", "A2", "0.4.7", "2.7", "4.9", "11.2.5", "7", "C#6"]


def make_notes(rng, n):
    notes = []
    for i in range(n):
        notes.append(NAMES[(i * 5 + int(rng.integers(0, 3))) % len(NAMES)])
    return notes


def hard_sigmoid(x):
    return np.clip(np.float32(0.2) * x + np.float32(0.5), 0, 1)


def sigmoid(x):
    return np.float32(1) / (np.float32(1) + np.exp(-x))


# ----- The networks and their forward pass --------------------------------------------


def lstm_weights(rng, n_in):
    return {"kernel": rng.normal(0, 4.0, (n_in, 4 * UNITS)).astype(np.float32),
            "recurrent_kernel": rng.normal(0, 1.0, (UNITS, 4 * UNITS)).astype(np.float32),
            "bias": rng.normal(0, 0.3, (4 * UNITS,)).astype(np.float32)}


def dense_weights(rng, n_in, n_out, scale):
    return {"kernel": rng.normal(0, scale, (n_in, n_out)).astype(np.float32),
            "bias": rng.normal(0, 0.2, (n_out,)).astype(np.float32)}


def bn_weights(rng, n):
    return {"gamma": rng.uniform(0.5, 1.5, n).astype(np.float32),
            "beta": rng.normal(0, 0.2, n).astype(np.float32),
            "moving_mean": rng.normal(0, 0.3, n).astype(np.float32),
            "moving_variance": rng.uniform(0.2, 2.0, n).astype(np.float32)}


def forward(layers, window, n_vocab):
    """Probabilities after a window of token indices, as Keras's predict computes them."""
    x = (np.array(window, dtype=np.float32) / np.float32(n_vocab)).reshape(-1, 1)
    for kind, cfg, w in layers:
        if kind == "LSTM":
            act = hard_sigmoid if cfg["recurrent_activation"] == "hard_sigmoid" else sigmoid
            h = np.zeros(UNITS, np.float32)
            c = np.zeros(UNITS, np.float32)
            outs = []
            for xt in x:
                z = xt @ w["kernel"] + h @ w["recurrent_kernel"] + w["bias"]
                i, f = act(z[:UNITS]), act(z[UNITS:2 * UNITS])
                g, o = np.tanh(z[2 * UNITS:3 * UNITS]), act(z[3 * UNITS:])
                c = f * c + i * g
                h = o * np.tanh(c)
                outs.append(h)
            x = np.array(outs) if cfg["return_sequences"] else h
        elif kind == "Dense":
            x = x @ w["kernel"] + w["bias"]
            if cfg["activation"] == "relu":
                x = np.maximum(x, 0)
        elif kind == "BatchNormalization":
            x = (x - w["moving_mean"]) / np.sqrt(w["moving_variance"] + np.float32(cfg["epsilon"]))
            x = x * w["gamma"] + w["beta"]
        elif kind == "Activation":
            if cfg["activation"] == "relu":
                x = np.maximum(x, 0)
            elif cfg["activation"] == "softmax":
                e = np.exp(x - x.max())
                x = e / e.sum()
    return x.astype(np.float32)


def generate(layers, notes, vocab, start):
    """predict.py's generate_notes with its random start fixed: argmax, window sliding."""
    index = {n: i for i, n in enumerate(vocab)}
    pattern = [index[n] for n in notes[start:start + SEQ]]
    out = []
    for _ in range(GEN_LENGTH):
        k = int(np.argmax(forward(layers, pattern, len(vocab))))
        out.append(vocab[k])
        pattern = pattern[1:] + [k]
    return out


def network_2017(rng, n_vocab):
    """LSTM(512) x 3, Dropout(0.3) after the first two, Dense(256), Dropout, Dense(V),
    softmax; Keras 2.0's hard-sigmoid gates."""
    lstm = lambda name, seqs, first: ("LSTM", dict(
        name=name, units=UNITS, activation="tanh", recurrent_activation="hard_sigmoid",
        return_sequences=seqs, go_backwards=False, stateful=False, use_bias=True,
        **({"batch_input_shape": [None, SEQ, 1]} if first else {})))
    return [
        lstm("lstm_1", True, True) + (lstm_weights(rng, 1),),
        ("Dropout", dict(name="dropout_1", rate=0.3), None),
        lstm("lstm_2", True, False) + (lstm_weights(rng, UNITS),),
        ("Dropout", dict(name="dropout_2", rate=0.3), None),
        lstm("lstm_3", False, False) + (lstm_weights(rng, UNITS),),
        ("Dense", dict(name="dense_1", units=DENSE, activation="linear", use_bias=True),
         dense_weights(rng, UNITS, DENSE, 0.8)),
        ("Dropout", dict(name="dropout_3", rate=0.3), None),
        ("Dense", dict(name="dense_2", units=n_vocab, activation="linear", use_bias=True),
         dense_weights(rng, DENSE, n_vocab, 3.0)),
        ("Activation", dict(name="activation_1", activation="softmax"), None),
    ]


def network_2019(rng, n_vocab):
    """The 2019 version: recurrent dropout, BatchNormalization after the last LSTM and after
    Dense(256), a ReLU after Dense(256); tf.keras 2's sigmoid gates."""
    lstm = lambda name, seqs: ("LSTM", dict(
        name=name, units=UNITS, activation="tanh", recurrent_activation="sigmoid",
        return_sequences=seqs, go_backwards=False, stateful=False, use_bias=True,
        recurrent_dropout=0.3))
    bn = lambda name: ("BatchNormalization", dict(name=name, axis=[1], epsilon=0.001,
                                                  center=True, scale=True, momentum=0.99))
    return [
        ("InputLayer", dict(name="lstm_input", batch_input_shape=[None, SEQ, 1]), None),
        lstm("lstm", True) + (lstm_weights(rng, 1),),
        lstm("lstm_1", True) + (lstm_weights(rng, UNITS),),
        lstm("lstm_2", False) + (lstm_weights(rng, UNITS),),
        bn("batch_normalization") + (bn_weights(rng, UNITS),),
        ("Dropout", dict(name="dropout", rate=0.3), None),
        ("Dense", dict(name="dense", units=DENSE, activation="linear", use_bias=True),
         dense_weights(rng, UNITS, DENSE, 0.8)),
        ("Activation", dict(name="activation", activation="relu"), None),
        bn("batch_normalization_1") + (bn_weights(rng, DENSE),),
        ("Dropout", dict(name="dropout_1", rate=0.3), None),
        ("Dense", dict(name="dense_1", units=n_vocab, activation="linear", use_bias=True),
         dense_weights(rng, DENSE, n_vocab, 0.5)),
        ("Activation", dict(name="activation_1", activation="softmax"), None),
    ]


# ----- Keras's HDF5 layout ---------------------------------------------------------------


def weight_name(style, layer, short):
    if style == "tf2" and layer.startswith("lstm"):
        return "%s/lstm_cell/%s:0" % (layer, short)  # tf.keras names LSTM weights by cell
    return "%s/%s:0" % (layer, short)


def save(path, layers, style, keras_version, weights_only=False, config_override=None):
    entries = [{"class_name": kind, "config": cfg} for kind, cfg, _ in layers]
    if config_override is not None:
        config = config_override
    elif style == "keras2.0":  # a list of layers directly, model_config as bytes
        config = {"class_name": "Sequential", "config": entries}
    else:
        config = {"class_name": "Sequential", "config": {"name": "sequential", "layers": entries}}
    text = json.dumps(config)
    with h5py.File(path, "w") as f:
        if not weights_only:
            f.attrs["model_config"] = text.encode("utf8") if style == "keras2.0" else text
            f.attrs["keras_version"] = keras_version.encode("utf8")
            f.attrs["backend"] = b"tensorflow"
        group = f if weights_only else f.create_group("model_weights")
        names = [cfg["name"] for kind, cfg, _ in layers if kind != "InputLayer"]
        group.attrs["layer_names"] = [n.encode("utf8") for n in names]
        for kind, cfg, w in layers:
            if kind == "InputLayer":
                continue
            g = group.create_group(cfg["name"])
            order = list(w) if w else []
            full = [weight_name(style, cfg["name"], k) for k in order]
            g.attrs["weight_names"] = [n.encode("utf8") for n in full]
            for k, name in zip(order, full):
                g.create_dataset(name, data=w[k])


def write_version(out, tag, network, style, keras_version, protocol, seed):
    rng = np.random.default_rng(seed)
    notes = make_notes(rng, 400)
    vocab = sorted(set(notes))
    layers = network(rng, len(vocab))
    save(os.path.join(out, tag + ".hdf5"), layers, style, keras_version)
    with open(os.path.join(out, tag + ".notes"), "wb") as f:
        pickle.dump(notes, f, protocol=protocol)
    index = {n: i for i, n in enumerate(vocab)}
    with open(os.path.join(out, tag + ".probs"), "w") as f:
        for s in STARTS:
            p = forward(layers, [index[n] for n in notes[s:s + SEQ]], len(vocab))
            f.write("%d %s\n" % (s, " ".join("%.9g" % v for v in p)))
    with open(os.path.join(out, tag + ".gen"), "w") as f:
        f.write("%d %d\n" % (STARTS[1], GEN_LENGTH))
        f.write("\n".join(generate(layers, notes, vocab, STARTS[1])) + "\n")
    return layers, notes, vocab


def write_foreign(out, layers_2017, n_vocab):
    rng = np.random.default_rng(5)
    # a GRU where the first LSTM is
    gru = [("GRU", dict(layers_2017[0][1], name="gru_1"),
            {"kernel": rng.normal(0, 1, (1, 3 * UNITS)).astype(np.float32)})] + layers_2017[1:]
    save(os.path.join(out, "gru.hdf5"), gru, "keras2.0", "2.0.8")
    conv = [("Conv1D", dict(name="conv1d_1", filters=4, kernel_size=3),
             {"kernel": rng.normal(0, 1, (3, 1, 4)).astype(np.float32)})] + layers_2017
    save(os.path.join(out, "conv.hdf5"), conv, "keras2.0", "2.0.8")
    # two numbers a step
    two = list(layers_2017)
    cfg = dict(two[0][1], batch_input_shape=[None, SEQ, 2])
    two[0] = ("LSTM", cfg, dict(two[0][2], kernel=rng.normal(0, 1, (2, 4 * UNITS)).astype(np.float32)))
    save(os.path.join(out, "two_inputs.hdf5"), two, "keras2.0", "2.0.8")
    # a kernel of the wrong shape
    wrong = list(layers_2017)
    wrong[2] = ("LSTM", wrong[2][1], dict(wrong[2][2], recurrent_kernel=np.zeros((UNITS, 8), np.float32)))
    save(os.path.join(out, "wrong_shape.hdf5"), wrong, "keras2.0", "2.0.8")
    # a functional model, weights only, and HDF5 that is no Keras model at all
    save(os.path.join(out, "functional.hdf5"), layers_2017, "keras2.0", "2.0.8",
         config_override={"class_name": "Model", "config": {"layers": []}})
    save(os.path.join(out, "weights_only.hdf5"), layers_2017, "keras2.0", "2.0.8", weights_only=True)
    with h5py.File(os.path.join(out, "not_keras.hdf5"), "w") as f:
        f.create_dataset("data", data=np.arange(10))
    # cut short: the first half of a good file
    data = open(os.path.join(out, "v2017.hdf5"), "rb").read()
    open(os.path.join(out, "truncated.hdf5"), "wb").write(data[:len(data) // 2])
    # configurations a careless or hostile writer gives (each once crashed, was misread or
    # passed silently)
    save(os.path.join(out, "empty_layer.hdf5"), layers_2017, "keras2.0", "2.0.8",
         config_override={"class_name": "Sequential", "config": [{}]})
    def with_first(**changes):
        changed = list(layers_2017)
        changed[0] = ("LSTM", dict(changed[0][1], **changes), changed[0][2])
        return changed
    hostile = {"units_huge": dict(units=2147483648), "units_text": dict(units="8"),
               "units_fraction": dict(units=8.5),
               "steps_negative": dict(batch_input_shape=[None, -5, 1]),
               "steps_huge": dict(batch_input_shape=[None, 2 ** 40, 1]),
               "features_null": dict(batch_input_shape=[None, SEQ, None])}
    for name, changes in hostile.items():
        save(os.path.join(out, name + ".hdf5"), with_first(**changes), "keras2.0", "2.0.8")
    save(os.path.join(out, "steps_null.hdf5"), with_first(batch_input_shape=[None, None, 1]),
         "keras2.0", "2.0.8")
    # a number of 5,000 digits inside a closed list
    text = json.dumps({"class_name": "Sequential",
                       "config": [{"class_name": "LSTM", "config": dict(layers_2017[0][1])}]})
    text = text.replace('"units": %d' % UNITS, '"units": 1' + "0" * 5000)
    save(os.path.join(out, "long_number.hdf5"), layers_2017, "keras2.0", "2.0.8")
    with h5py.File(os.path.join(out, "long_number.hdf5"), "a") as f:
        f.attrs["model_config"] = text.encode("utf8")
    # notes with a token the model was not trained on: one more in the vocabulary
    notes = pickle.load(open(os.path.join(out, "v2017.notes"), "rb")) + ["D7"]
    with open(os.path.join(out, "more.notes"), "wb") as f:
        pickle.dump(notes, f, protocol=3)


def main():
    out = sys.argv[1]
    layers_2017, _, vocab = write_version(out, "v2017", network_2017, "keras2.0", "2.0.8", 3, 1)
    write_version(out, "v2019", network_2019, "tf2", "2.4.0", 4, 2)
    write_foreign(out, layers_2017, len(vocab))


if __name__ == "__main__":
    main()
