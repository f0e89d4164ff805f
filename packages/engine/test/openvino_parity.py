"""Runs exported shard graphs under OpenVINO's runtime (PyPI `openvino`) for the parity test.

Reads a JSON request on stdin:
  {"model": "<shard dir>/model.onnx", "device": "CPU", "kv_heads": int, "head_dim": int,
   "capacity": int, "layers": [layer indices], "main_output": "logits" | "hidden_out",
   "kv_cache": "float32" | "float16" | "int8",
   "steps": [{"input_name": str, "dtype": "int32" | "float32", "shape": [...], "data": [...],
              "position": int}]}
and keeps the KV cache the way the engine's runner does: per layer [1, kv_heads, 1, capacity,
head_dim] buffers that the graph reads, plus the new rows it returns written at `position`; for
an int8 cache, keys [1, kv_heads, head_dim, capacity] (transposed), values [1, kv_heads,
capacity, head_dim] and per-position scales [1, kv_heads, 1, capacity], filled from the graph's
`new_kv` rows [1, steps, kv_heads, 2, head_dim] and `new_kv_scale` [1, steps, kv_heads, 2, 1].
Writes {"outputs": [[...main output per step...]], "version": str} to stdout. Exit code 3 with a
message on stderr when openvino or numpy cannot be imported.
"""

import json
import sys


def main() -> int:
    try:
        import numpy as np
        import openvino as ov
    except Exception as err:  # noqa: BLE001 - any import failure means "unavailable"
        print(f"openvino unavailable: {err}", file=sys.stderr)
        return 3

    req = json.load(sys.stdin)
    core = ov.Core()
    compiled = core.compile_model(core.read_model(req["model"]), req.get("device", "CPU"))
    infer = compiled.create_infer_request()
    capacity = req["capacity"]
    kv_heads = req["kv_heads"]
    head_dim = req["head_dim"]
    quantized = req.get("kv_cache") == "int8"
    if quantized:
        keys = {layer: np.zeros((1, kv_heads, head_dim, capacity), dtype=np.int8) for layer in req["layers"]}
        values = {layer: np.zeros((1, kv_heads, capacity, head_dim), dtype=np.int8) for layer in req["layers"]}
        key_scales = {layer: np.zeros((1, kv_heads, 1, capacity), dtype=np.float32) for layer in req["layers"]}
        value_scales = {layer: np.zeros((1, kv_heads, 1, capacity), dtype=np.float32) for layer in req["layers"]}
    else:
        shape = (1, kv_heads, 1, capacity, head_dim)
        keys = {layer: np.zeros(shape, dtype=np.float32) for layer in req["layers"]}
        values = {layer: np.zeros(shape, dtype=np.float32) for layer in req["layers"]}
    outputs = []
    for step in req["steps"]:
        data = np.array(step["data"], dtype=step["dtype"]).reshape(step["shape"])
        steps = step["shape"][1]
        position = step["position"]
        mask = np.zeros((capacity + steps, steps), dtype=np.float32)
        mask[position:capacity, :] = -np.inf
        for t in range(steps):
            mask[capacity + t, :t] = -np.inf
        feeds = {
            step["input_name"]: data,
            "positions": np.arange(position, position + steps, dtype=np.int32),
            "attention_mask": mask.reshape(1, 1, 1, capacity + steps, steps),
        }
        for layer in req["layers"]:
            feeds[f"past_key_{layer}"] = keys[layer]
            feeds[f"past_value_{layer}"] = values[layer]
            if quantized:
                feeds[f"past_key_scale_{layer}"] = key_scales[layer]
                feeds[f"past_value_scale_{layer}"] = value_scales[layer]
        result = infer.infer(feeds)
        end = position + steps
        for layer in req["layers"]:
            if quantized:
                rows = np.asarray(result[compiled.output(f"new_kv_{layer}")])
                scales = np.asarray(result[compiled.output(f"new_kv_scale_{layer}")])
                # rows [1, S, kv, 2, D] → keys as columns [kv, D, S], values as rows [kv, S, D]
                keys[layer][0, :, :, position:end] = rows[0, :, :, 0, :].transpose(1, 2, 0)
                values[layer][0, :, position:end, :] = rows[0, :, :, 1, :].transpose(1, 0, 2)
                key_scales[layer][0, :, 0, position:end] = scales[0, :, :, 0, 0].T
                value_scales[layer][0, :, 0, position:end] = scales[0, :, :, 1, 0].T
            else:
                new_key = np.asarray(result[compiled.output(f"new_key_{layer}")])
                new_value = np.asarray(result[compiled.output(f"new_value_{layer}")])
                keys[layer][0, :, 0, position:end, :] = new_key[0, :, 0]
                values[layer][0, :, 0, position:end, :] = new_value[0, :, 0]
        main_output = result[compiled.output(req["main_output"])]
        outputs.append(np.asarray(main_output, dtype=np.float32).reshape(-1).tolist())
    json.dump({"outputs": outputs, "version": ov.get_version()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
