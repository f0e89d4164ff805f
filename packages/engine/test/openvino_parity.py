"""Runs exported shard graphs under OpenVINO's runtime (PyPI `openvino`) for the parity test.

Reads a JSON request on stdin:
  {"model": "<shard dir>/model.onnx", "device": "CPU", "kv_heads": int, "head_dim": int,
   "layers": [layer indices], "main_output": "logits" | "hidden_out",
   "steps": [{"input_name": str, "dtype": "int32" | "float32", "shape": [...], "data": [...],
              "position": int}]}
Each step feeds the previous step's present_key/present_value as its past (the first step an
empty cache), like the openvino engine does, and writes {"outputs": [[...main output...], ...]}
to stdout. Exit code 3 with a message on stderr when openvino is not importable.
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
    kv_shape = (1, req["kv_heads"], 0, req["head_dim"])
    past = {}
    for layer in req["layers"]:
        past[f"past_key_{layer}"] = np.zeros(kv_shape, dtype=np.float32)
        past[f"past_value_{layer}"] = np.zeros(kv_shape, dtype=np.float32)
    outputs = []
    for step in req["steps"]:
        data = np.array(step["data"], dtype=step["dtype"]).reshape(step["shape"])
        length = step["shape"][1]
        total = step["position"] + length
        feeds = {
            step["input_name"]: data,
            "seqlens_k": np.array([total - 1], dtype=np.int32),
            "total_sequence_length": np.array(total, dtype=np.int32),
            **past,
        }
        result = infer.infer(feeds)
        for layer in req["layers"]:
            past[f"past_key_{layer}"] = np.array(result[compiled.output(f"present_key_{layer}")])
            past[f"past_value_{layer}"] = np.array(result[compiled.output(f"present_value_{layer}")])
        main = result[compiled.output(req["main_output"])]
        outputs.append(np.asarray(main, dtype=np.float32).reshape(-1).tolist())
    json.dump({"outputs": outputs, "version": ov.get_version()}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
