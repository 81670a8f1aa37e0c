"""`vepo eval suite=retention`: the alignment tax of a trained model against its base (retention.reference).

Measured for both models on the same inputs, with model − reference differences:
1. chrF++ on FLORES directions the model was not trained on (retention.directions), plus the trained direction
   when known (retention.trained_direction) so the gain can be read next to the loss;
2. NLL per token and token-level KL(model || reference) on held-out text (vepo/evaluation/retention.py);
3. optionally, accuracy on a multiple-choice set scored by log-likelihood (retention.mc_file).

    <out>/results/retention.json                 the result (rewritten after each part, so a rerun skips finished
                                                 parts made the same way)
    <out>/translations/{model,reference}/        each model's translation results (the eval result store: resumable)
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from vepo.config.schema import DataConfig, EvalConfig, RetentionConfig, SuiteConfig
from vepo.data.toy import TOY_SRC_CODE as TOY_SRC  # the toy model learns TOY_SRC -> TOY_TGT
from vepo.data.toy import TOY_TGT_CODE as TOY_TGT
from vepo.errors import VepoError
from vepo.evaluation.suites import Direction
from vepo.utils.io import atomic_write_json

console = Console()

# Untrained directions when retention.directions is not set and a FLORES directory is: high-resource pairs a base
# model translates well (so losses show), both ways; the reverse of the trained direction is added when known.
DEFAULT_DIRECTIONS = ("eng_Latn-fra_Latn", "fra_Latn-eng_Latn", "eng_Latn-zho_Hans", "zho_Hans-eng_Latn",
                      "eng_Latn-hin_Deva", "hin_Deva-eng_Latn")
RESULT = Path("results") / "retention.json"


@dataclass
class Plan:
    toy: bool  # the toy layout is evaluated (no FLORES directory, data=toy)
    untrained: list[Direction]
    trained: Direction | None
    notes: list[str]


def is_toy(data: DataConfig, suite: SuiteConfig) -> bool:
    from vepo.data.flores import flores_root

    return flores_root(data.flores_dir) is None and (data.name == "toy" or suite.dataset == "toy")


def _direction(text: str, key: str, toy: bool) -> Direction:
    from vepo.data.languages import canonical_code

    d = Direction.parse(text)
    codes = []
    for code in (d.src, d.tgt):
        if toy:
            if code not in (TOY_SRC, TOY_TGT):
                raise VepoError(f"config error: {key}: '{code}' is not in the toy data ({TOY_SRC}, {TOY_TGT}); "
                                f"pass data.flores_dir=<dir> for FLORES directions")
            codes.append(code)
        else:
            try:
                codes.append(canonical_code(code))
            except VepoError as exc:
                raise VepoError(f"config error: {key}: {exc}") from None
    if codes[0] == codes[1]:
        raise VepoError(f"config error: {key}: {text} translates a language into itself")
    return Direction(*codes)


def _run_config_direction(model_path: str | None) -> Direction | None:
    """The trained pair of a `vepo train` checkpoint (<run>/checkpoint): lang.src-lang.tgt of the run's config."""
    from vepo.config.runinfo import resolved_config, select

    if not model_path or not Path(model_path).expanduser().is_dir():
        return None
    config = resolved_config(Path(model_path).expanduser().resolve().parent)
    src, tgt = select(config, "lang.src"), select(config, "lang.tgt")
    return Direction(str(src), str(tgt)) if src and tgt else None


def trained_direction(retention: RetentionConfig, model_path: str | None, toy: bool) -> Direction | None:
    value = retention.trained_direction
    if value == "none":
        return None
    if value != "auto":
        return _direction(value, "retention.trained_direction", toy)
    if toy:
        return Direction(TOY_SRC, TOY_TGT)
    found = _run_config_direction(model_path)
    try:
        return None if found is None else _direction(found.name, "run config", toy)
    except VepoError:
        return None  # a pair this data cannot evaluate (a toy run against FLORES): no gain, not an error


def make_plan(retention: RetentionConfig, data: DataConfig, suite: SuiteConfig, split: str,
              model_path: str | None) -> Plan:
    """Which directions are measured; every check that needs no model. Explicit directions must exist; default
    ones missing from the FLORES directory are dropped with a note."""
    from vepo.data.flores import flores_root, open_flores

    toy = is_toy(data, suite)
    trained = trained_direction(retention, model_path, toy)
    root = flores_root(data.flores_dir)
    flores = open_flores(root) if root is not None else None
    notes: list[str] = []
    if retention.directions is not None:
        untrained = [_direction(d, "retention.directions", toy) for d in retention.directions]
        if trained in untrained:
            raise VepoError(f"config error: retention.directions lists {trained.name}, the trained direction "
                            f"(retention.trained_direction); list untrained directions only")
        if untrained and flores is None and not toy:
            raise VepoError("config error: retention.directions needs the FLORES-200 dataset: set "
                            "data.flores_dir=<dir> (or data=toy for the toy language)")
        if flores is None and not toy and trained is not None:
            notes.append(f"trained direction {trained.name} not measured: no FLORES directory")
            trained = None
        for code in sorted({c for d in untrained + [trained] if d for c in (d.src, d.tgt)}):
            if flores is not None and not toy:
                flores.path(split, code)
        return Plan(toy, list(dict.fromkeys(untrained)), trained, notes)
    if toy:
        candidates = [Direction(TOY_TGT, TOY_SRC)]
    elif flores is None:
        notes.append("no untrained directions: no FLORES directory (data.flores_dir); chrF++ retention skipped")
        return Plan(False, [], None, notes)
    else:
        candidates = [Direction.parse(d) for d in DEFAULT_DIRECTIONS]
        if trained is not None:
            candidates.insert(0, Direction(trained.tgt, trained.src))
    untrained = []
    for d in dict.fromkeys(candidates):
        if d == trained:
            continue
        if flores is not None and not toy:
            try:
                flores.path(split, d.src), flores.path(split, d.tgt)
            except VepoError:
                notes.append(f"default direction {d.name} skipped: not in {flores.root}")
                continue
        untrained.append(d)
    if trained is not None and flores is not None and not toy:
        try:
            flores.path(split, trained.src), flores.path(split, trained.tgt)
        except VepoError:
            notes.append(f"trained direction {trained.name} not measured: not in {flores.root}")
            trained = None
    return Plan(toy, untrained, trained, notes)


def read_mc_file(path: str) -> list[dict]:
    """Multiple-choice items, one JSON object a line: question (str), choices (>= 2 str), answer (index),
    context (optional str); blank lines are skipped. A bad line is a one-line error naming it."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise VepoError(f"config error: retention.mc_file='{path}' does not exist")
    items = []
    for n, line in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        where = f"config error: retention.mc_file {file}:{n}"
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise VepoError(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) or not item["question"].strip():
            raise VepoError(f"{where}: needs a non-empty 'question' string")
        choices = item.get("choices")
        if not isinstance(choices, list) or len(choices) < 2 or not all(isinstance(c, str) and c for c in choices):
            raise VepoError(f"{where}: 'choices' must be a list of at least 2 non-empty strings")
        answer = item.get("answer")
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(choices):
            raise VepoError(f"{where}: 'answer' must be the index of the right choice (0..{len(choices) - 1})")
        if item.get("context") is not None and not isinstance(item["context"], str):
            raise VepoError(f"{where}: 'context' must be a string when given")
        items.append({"question": item["question"], "context": item.get("context"), "choices": choices,
                      "answer": answer})
    if not items:
        raise VepoError(f"config error: retention.mc_file='{path}' has no items")
    return items


def check_retention(cfg: EvalConfig) -> Plan:
    """Every retention setting, before any model is loaded (vepo eval runs this before its job starts)."""
    r = cfg.retention
    if not r.reference:
        raise VepoError("config error: suite=retention needs retention.reference=<base model id or directory> to "
                        "compare with")
    if r.max_length < 2:
        raise VepoError(f"config error: retention.max_length={r.max_length} must be >= 2 (one predicted token)")
    if r.max_chunks is not None and r.max_chunks < 1:
        raise VepoError(f"config error: retention.max_chunks={r.max_chunks} must be >= 1 (or null: all chunks)")
    toy = is_toy(cfg.data, cfg.suite)
    if r.text_file:
        if not Path(r.text_file).expanduser().is_file():
            raise VepoError(f"config error: retention.text_file='{r.text_file}' does not exist")
    elif not toy:
        raise VepoError("config error: suite=retention needs retention.text_file=<held-out general-domain text> "
                        "(data=toy defaults to the toy dev split)")
    if r.mc_file:
        read_mc_file(r.mc_file)
    return make_plan(r, cfg.data, cfg.suite, cfg.eval.split, cfg.model.path)


def heldout_text(retention: RetentionConfig, data: DataConfig) -> tuple[str, str]:
    """(text, where it came from): retention.text_file, else (toy) the toy dev split: its English sentences, then
    its toy sentences. The toy model trains on the train split only, so dev is held out."""
    from vepo.utils.text_files import read_utf8_lines

    if retention.text_file:
        return "\n".join(read_utf8_lines(Path(retention.text_file).expanduser())), str(retention.text_file)
    from vepo.data.toy import build_toy_corpus

    dev = build_toy_corpus(data.seed, data.n_train, data.n_dev, data.n_devtest).dev
    if not dev:
        raise VepoError("config error: the toy held-out text is the toy dev split, and data.n_dev=0; set "
                        "data.n_dev or retention.text_file")
    return "\n".join([s for s, _ in dev] + [t for _, t in dev]), f"toy dev split (seed {data.seed}, {len(dev)} pairs)"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _previous(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}  # none yet (or a foreign file): compute everything
    return data if isinstance(data, dict) else {}


def _translate(cfg: EvalConfig, plan: Plan, out_dir: Path, extra: dict) -> dict:
    """Both models over the trained and untrained directions; per-direction chrF++ and model − reference."""
    from vepo.data.sources import eval_flores
    from vepo.evaluation.runner import EvalContext, run_translation_suite
    from vepo.evaluation.store import ResultStore

    directions = ([plan.trained] if plan.trained else []) + plan.untrained
    flores = eval_flores(cfg.data, out_dir, toy=plan.toy, what="suite=retention")
    scores: dict[str, dict[str, dict]] = {}
    for role, path in (("model", cfg.model.path), ("reference", cfg.retention.reference)):
        ctx = EvalContext(flores=flores, settings=cfg.eval, out_dir=out_dir / "translations" / role,
                          model_label=str(path), extra=dict(extra, retention_role=role))
        title = f"retention · {role}: {path} · {flores.name} {flores.version} {cfg.eval.split}"
        run_translation_suite(directions, ctx, title, model_path=str(path), model_cfg=cfg.model,
                              prompt_cfg=cfg.prompt, device=cfg.hardware.device, seed=cfg.seed)
        store = ResultStore(ctx.out_dir)
        scores[role] = {d.name: store.load(d.name) for d in directions}
    rows = []
    for d in directions:
        model, ref = scores["model"][d.name], scores["reference"][d.name]
        m, r = model["metrics"]["chrf++"]["score"], ref["metrics"]["chrf++"]["score"]
        rows.append({"direction": d.name, "trained": d == plan.trained, "n_segments": model["n_segments"],
                     "model": m, "reference": r, "delta": round(m - r, 4)})
    untrained = [row for row in rows if not row["trained"]]
    first = next(iter(scores["model"].values()))
    return {"metric": "chrf++", "signature": first["metrics"]["chrf++"]["signature"], "split": cfg.eval.split,
            "dataset": flores.describe(), "directions": rows,
            "trained": next((row for row in rows if row["trained"]), None),
            "untrained_mean": _mean_row(untrained)}


def _mean_row(rows: list[dict]) -> dict | None:
    if not rows:
        return None
    mean = {k: round(sum(r[k] for r in rows) / len(rows), 4) for k in ("model", "reference", "delta")}
    return {"n_directions": len(rows), **mean}


def run_retention_eval(cfg: EvalConfig, out_dir: Path, extra: dict) -> dict:
    from vepo.evaluation.retention import _chunks, lm_scores, load_models, mc_scores

    plan = check_retention(cfg)
    path = out_dir / RESULT
    previous = _previous(path)
    result = {"kind": "retention", "model": str(cfg.model.path), "reference": str(cfg.retention.reference),
              "trained_direction": plan.trained.name if plan.trained else None, "complete": False,
              "translation": None, "lm": None, "mc": None, "notes": list(plan.notes), **extra}
    if plan.trained is None:
        result["notes"].append("trained direction unknown (retention.trained_direction): no gain measured here")
    if plan.untrained or plan.trained:
        result["translation"] = _translate(cfg, plan, out_dir, extra)
        atomic_write_json(path, result)

    text, source = heldout_text(cfg.retention, cfg.data)
    lm_identity = {"model": result["model"], "reference": result["reference"], "text_sha256": _sha256(text),
                   "max_length": cfg.retention.max_length, "max_chunks": cfg.retention.max_chunks}
    items = read_mc_file(cfg.retention.mc_file) if cfg.retention.mc_file else None
    mc_identity = None if items is None else {"model": result["model"], "reference": result["reference"],
                                              "mc_sha256": _sha256(json.dumps(items, sort_keys=True))}
    kept = []
    old_lm, old_mc = previous.get("lm") or {}, previous.get("mc") or {}
    if old_lm.get("identity") == lm_identity:
        result["lm"] = old_lm
        kept.append("NLL/KL")
    if items is not None and old_mc.get("identity") == mc_identity:
        result["mc"] = old_mc
        kept.append("multiple choice")
    if kept:
        console.print(f"{' and '.join(kept)} already measured the same way in {path}: kept")
    if result["lm"] is None or (items is not None and result["mc"] is None):
        tokenizer, scorer, shared = load_models(cfg.model.path, cfg.retention.reference, cfg.model,
                                                cfg.hardware.device)
        vocabulary = ("identical" if shared is None else
                      f"shared: the model's tokenizer extends the reference's; scored on the reference's "
                      f"{len(shared)} ids, distributions renormalised over them")
        if result["lm"] is None:
            chunks = _chunks(tokenizer(text, add_special_tokens=False)["input_ids"], cfg.retention.max_length,
                             cfg.retention.max_chunks)
            if not chunks:
                raise VepoError(f"the retention text ({source}) has too little text (needs >= 2 tokens)")
            result["lm"] = {"identity": lm_identity, "text": source, "chunks": len(chunks),
                            "max_length": cfg.retention.max_length, "vocabulary": vocabulary,
                            **lm_scores(scorer, chunks)}
            atomic_write_json(path, result)
        if items is not None and result["mc"] is None:
            result["mc"] = {"identity": mc_identity, "file": str(cfg.retention.mc_file), "vocabulary": vocabulary,
                            **mc_scores(scorer, tokenizer, items)}
    result["complete"] = True
    atomic_write_json(path, result)
    print_retention(result)
    console.print(f"wrote {path}")
    return result


def _num(x, digits: int = 2, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def print_retention(result: dict, out: Console | None = None) -> None:
    out = out or console
    table = Table(title=f"retention · {result['model']} vs {result['reference']} (reference)", title_style="bold")
    for col, justify in (("measure", "left"), ("model", "right"), ("reference", "right"), ("Δ model−ref", "right")):
        table.add_column(col, justify=justify)
    tr = result.get("translation")
    if tr:
        for row in tr["directions"]:
            label = f"chrF++ {row['direction']}" + (" (trained)" if row["trained"] else "")
            table.add_row(label, _num(row["model"]), _num(row["reference"]), _num(row["delta"], sign=True))
        if tr["untrained_mean"]:
            m = tr["untrained_mean"]
            table.add_row(f"chrF++ untrained mean ({m['n_directions']})", _num(m["model"]), _num(m["reference"]),
                          _num(m["delta"], sign=True), end_section=True)
    lm = result.get("lm")
    if lm:
        table.add_row("NLL/token", _num(lm["nll"], 4), _num(lm["reference_nll"], 4), _num(lm["delta_nll"], 4, True))
        table.add_row("perplexity", _num(lm["perplexity"]), _num(lm["reference_perplexity"]), "")
        table.add_row("KL(model‖ref)/token", _num(lm["kl_model_reference"], 4), "", "")
    mc = result.get("mc")
    if mc:
        table.add_row(f"MC accuracy ({mc['items']} items)", _num(mc["accuracy"], 3),
                      _num(mc["reference_accuracy"], 3), _num(mc["delta_accuracy"], 3, True))
    out.print(table)
    if lm:
        out.print(f"held-out text: {lm['text']} · {lm['tokens']} tokens · vocabulary {lm['vocabulary']}"
                  + (f" · new-token mass {lm['new_token_mass']:.4f}" if lm["vocabulary"] != "identical" else ""),
                  highlight=False)
    for note in result.get("notes", []):
        out.print(f"note: {note}", highlight=False)
