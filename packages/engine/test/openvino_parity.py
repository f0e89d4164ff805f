"""Runs exported shard graphs under OpenVINO's runtime (PyPI `openvino`) for the parity test.

Reads a JSON request on stdin:
  {"model": "<shard dir>/model.onnx", "device": "CPU", "kv_heads": int, "head_dim": int,
   "capacity": int, "layers": [layer indices], "main_output": "logits" | "hidden_out",
   "steps": [{"input_name": str, "dtype": "int32" | "float32", "shape": [...], "data": [...],
              "position": int}]}
and keeps the KV cache the way the engine's runner does: per layer [1, kv_heads, 1, capacity,
head_dim] buffers that the graph reads, plus the new rows it returns written at `position`.
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
    shape = (1, req["kv_heads"], 1, capacity, req["head_dim"])
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
        result = infer.infer(feeds)
        for layer in req["layers"]:
            new_key = np.asarray(result[compiled.output(f"new_key_{layer}")])
            new_value = np.asarray(result[compiled.output(f"new_value_{layer}")])
            keys[layer][0, :, 0, position : position + steps, :] = new_key[0, :, 0]
            values[layer][0, :, 0, position : position + steps, :] = new_value[0, :, 0]
        main_output = result[compiled.output(req["main_output"])]
        outputs.append(np.asarray(main_output, dtype=np.float32).reshape(-1).tolist())
    json.dump({"outputs": outputs, "version": ov.get_version()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
