"""``tagnet export``: torch.export programs, ONNX models and slim weights files."""
from __future__ import annotations

import argparse
from pathlib import Path

from tagnet.commands._common import add_weights_arguments, non_negative_float, weights_model

HELP = "export a model: torch.export program (.pt2), ONNX, or a slim .safetensors weights file"
DESCRIPTION = """\
Export a trained model for deployment, checked against the eager model.

  tagnet export --checkpoint runs/gym99/best.pth --format pt2 -o gym99.pt2
  tagnet export --checkpoint runs/gym99 --format onnx -o gym99.onnx --video clip.mp4
  tagnet export --weights gym99_best.pth --arch tag_r2plus1d_34 --preset gym99 \\
      --format safetensors -o gym99.safetensors

The model comes from a `tagnet train` checkpoint (--checkpoint) or from a weights
file (--weights with --arch and --preset or --config): tagnet's layout, the
authors' released layout, wrapped in model_state_dict/state_dict/model, with a
`module.` prefix, or .safetensors.

pt2 and onnx have a dynamic batch dimension (input `video`, output `logits`);
after writing, the program runs on the example input (--video, else a seeded
random clip) and on a batch of another size, and its logits must match the
eager model's within --atol (ONNX needs `pip install tagnet[export]`:
onnx, onnxscript, onnxruntime). The program is written to a temporary file and
renamed onto --output only once it has passed that check: an export that fails
it leaves the previous file at --output. safetensors writes the weights alone in
tagnet's layout (loadable with --weights, or tagnet.weights.load_weights). The
output may not be an input (the checkpoint, --weights, --config, --video).

What exports: every static topology. The default propagation ("auto": the
structured closed form for intra_frame/temporal graphs) and "pyg-edge"/"dense"
trace as plain tensor ops; "pyg"/"pyg-csr" (a sparse CSR matrix) do not, so the
export switches them to "pyg-edge" (the same numbers). Data-dependent
topologies (knn_feature, similarity_aligned) cannot be exported: their edges
depend on the tokens.
"""

FORMATS = ("pt2", "onnx", "safetensors")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides for --weights, e.g. data.num_frames=16")
    parser.add_argument("--checkpoint", "-k", help="a .pth written by tagnet train, or a run "
                        "folder (best.pth)")
    add_weights_arguments(parser)
    parser.add_argument("--format", "-f", required=True, choices=FORMATS)
    parser.add_argument("--output", "-o", required=True, help="file to write")
    parser.add_argument("--video", help="a video to check the export on (default: random "
                        "clips)")
    parser.add_argument("--batch-size", type=int, default=2, help="example batch (2)")
    parser.add_argument("--opset", type=int, default=18, help="ONNX opset (>= 17; 18)")
    parser.add_argument("--atol", type=non_negative_float, default=1e-4,
                        help="largest logit difference allowed between export and eager, a "
                        "number >= 0 (1e-4)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")


def load_for_export(args: argparse.Namespace):
    """``(model, config)`` from --checkpoint or --weights."""
    from tagnet.models.factory import load_run

    if (args.checkpoint is None) == (args.weights is None):
        raise ValueError("pass either --checkpoint (a tagnet training checkpoint) or --weights")
    if args.checkpoint is not None:
        model = load_run(args.checkpoint)
        return model, model.run_config
    model, cfg, layout = weights_model(args, args.overrides)
    print(f"loaded '{args.weights}' ({layout} layout)")
    return model, cfg


def exportable(model) -> None:
    """Raise ``ValueError`` naming what cannot be exported; switch CSR propagation to edges."""
    from tagnet.propagation import GraphPropagation

    for name, module in model.named_modules():
        if not isinstance(module, GraphPropagation):
            continue
        if module.topology.dynamic:
            dynamic = [e.name for e in module.topology.edge_sets if e.dynamic]
            raise ValueError(
                f"{name} uses topology {module.topology.name!r} with data-dependent edge sets "
                f"{dynamic}: its graph depends on the tokens and cannot be exported. Exportable: "
                "static topologies with propagation 'auto'/'structured' (intra_frame, temporal, "
                "none), 'pyg-edge' or 'dense' (any static topology)")
        if module.resolved_method() == "pyg-csr":
            module.method = "pyg-edge"  # the same numbers; sparse CSR tensors do not trace
            print(f"{name}: propagation 'pyg-csr' does not export, using 'pyg-edge'")


def example_inputs(model, cfg, args: argparse.Namespace):
    """The checked input: the clip of ``--video`` (test transform) or seeded random clips."""
    import torch

    if args.video:
        from tagnet.inference import clip_tensor

        x = clip_tensor(args.video, cfg).unsqueeze(0)
        return x.repeat(args.batch_size, *([1] * (x.dim() - 1)))
    T, S = getattr(model, "num_frames", cfg.data.num_frames), getattr(model, "img_size",
                                                                      cfg.data.img_size)
    g = torch.Generator().manual_seed(0)
    return torch.randn(args.batch_size, 3, T, S, S, generator=g)


def _other_batch(x):
    import torch

    return torch.cat([x, x[:1]])  # one clip more: the batch dimension must be dynamic


def export_program(model, x, path: Path):
    """Write a ``torch.export`` program with a dynamic batch; returns the program."""
    import torch

    batch = torch.export.Dim("batch", min=1, max=4096)
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(path))
    return program


def export_onnx(model, x, path: Path, opset: int = 18) -> None:
    """Write an ONNX model (input ``video``, output ``logits``) with a dynamic batch."""
    import torch

    if opset < 17:
        raise ValueError(f"--opset {opset}: tagnet exports ONNX opset 17 or newer")
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as exc:
        raise RuntimeError("ONNX export needs onnx and onnxscript: pip install tagnet[export] "
                           "(onnx, onnxscript, onnxruntime)") from exc
    batch = torch.export.Dim("batch", min=1, max=4096)
    torch.onnx.export(model, (x,), str(path), dynamo=True, opset_version=opset,
                      input_names=["video"], output_names=["logits"],
                      dynamic_shapes=({0: batch},))


def onnx_logits(path: Path, x):
    """Run the ONNX model with onnxruntime on the CPU."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"video": x.numpy()})[0])


def check_close(name: str, got, want, atol: float) -> float:
    err = float((got.detach() - want).abs().max())
    if not err <= atol:
        raise RuntimeError(f"{name} differs from the eager model by {err:.3g} (> --atol {atol}); "
                           "nothing was written (a file already at --output is unchanged)")
    return err


def _check_paths(args: argparse.Namespace) -> Path:
    """``--output``, refused (before anything is loaded or written) when it is a folder or
    one of the command's inputs."""
    from tagnet.datasets.atomic import check_outputs

    checkpoint = args.checkpoint
    if checkpoint is not None and Path(checkpoint).is_dir():
        checkpoint = [Path(checkpoint) / n for n in ("best.pth", "last.pth")]
    else:
        checkpoint = [checkpoint]
    config = args.config if args.config and Path(args.config).is_file() else None
    check_outputs({"--output": args.output},
                  [*(("--checkpoint", c) for c in checkpoint), ("--weights", args.weights),
                   ("--config", config), ("--video", args.video)])
    return Path(args.output)


def run(args: argparse.Namespace) -> int:
    import torch

    from tagnet.datasets.atomic import atomic_path
    from tagnet.weights import save_weights

    if args.overrides and args.weights is None:
        raise ValueError("KEY=VALUE overrides describe the model of --weights; a checkpoint "
                         "has its own config")
    out = _check_paths(args)
    if args.format == "safetensors" and out.suffix != ".safetensors":
        raise ValueError(f"--format safetensors writes a .safetensors file, not '{out}'")
    model, cfg = load_for_export(args)
    model = model.cpu().eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    if args.format == "safetensors":
        save_weights(model, out)
        print(f"wrote {out} ({len(model.state_dict())} tensors, tagnet layout)")
        return 0
    exportable(model)
    x = example_inputs(model, cfg, args)
    x2 = _other_batch(x)
    with torch.no_grad():
        want, want2 = model(x), model(x2)
    checked = True
    # written under a temporary name, renamed onto --output only if it passes the check
    with atomic_path(out, keep_suffix=True) as tmp:
        if args.format == "pt2":
            program = export_program(model, x, tmp)
            del program
            loaded = torch.export.load(str(tmp)).module()
            with torch.no_grad():
                got, got2 = loaded(x), loaded(x2)
        else:
            export_onnx(model, x, tmp, args.opset)
            try:
                got, got2 = onnx_logits(tmp, x), onnx_logits(tmp, x2)
            except ImportError:
                checked = False
        if checked:
            err = max(check_close(f"{args.format} export", got, want, args.atol),
                      check_close(f"{args.format} export (batch {len(x2)})", got2, want2,
                                  args.atol))
    if not checked:
        print(f"wrote {out}; not checked: onnxruntime is not installed "
              "(pip install tagnet[export])")
        return 0
    print(f"wrote {out}: logits match eager within {err:.2g} on batches of {len(x)} and "
          f"{len(x2)} ({'--video ' + args.video if args.video else 'random clips'})")
    return 0
