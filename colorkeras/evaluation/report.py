"""Per-class reports of one or several evaluated runs: Markdown, CSV, HTML and figures.

``write_report(RUN_DIRS, OUT)`` reads what ``colorkeras.evaluation.evaluate`` wrote into
each run folder (through `colorkeras.evaluation.results`) and writes

```
OUT/report.md           the tables below, with figures linked relatively
OUT/report.html         the same, self-contained (inline style, figures beside it)
OUT/overall.csv         one row per model, the grey floor, and the study's rows (SUN397 only)
OUT/per_class.csv       one row per (class, model)
OUT/qualitative.png     input L | each model | truth, for chosen, best and worst images
OUT/gain_per_class.png  each model's PSNR gain and MSE reduction over the grey floor
OUT/learning_curve.png  each run's training and validation loss per epoch (from its log)
```

plus the hidden record of those files (``.colorkeras-written.json``): a file of these names
that report did not write is replaced only with ``overwrite`` (`colorkeras.fileio.WrittenFiles`).
The figures are drawn by `colorkeras.evaluation.figures`; a report can be shown inline in
a notebook (``report_parts``) with our runs set against the study's table
(``study_comparison_markdown``).

Every table carries the grey floor (ab = 0): on urban photos it already scores well in
PSNR and SSIM, so a model's numbers mean something only next to it. The study's own
numbers are shown beside ours only when the data is SUN397 urban-32, and always labelled
as reported by the study.
"""

from __future__ import annotations

import csv
import html
import io
import math
import os
import re
from pathlib import Path

import numpy as np

from colorkeras.data.pipeline import DatasetError, PreparedDataset
from colorkeras.errors import InvalidArgument
from colorkeras.evaluation.evaluate import GREY_FLOOR, format_number, grey_floor_verdict
from colorkeras.evaluation.figures import (default_sample_rows, gain_figure, learning_curve_figure,
                                           qualitative_figure, save_figure)
from colorkeras.evaluation.metrics import METRIC_NAMES
from colorkeras.evaluation.results import (REPORTED_BY_STUDY, STUDY_BEST_CLASSES, STUDY_CITATION, STUDY_OVERALL,
                                           STUDY_WORST_CLASSES, TABLE_METRICS, ReportData, ReportError, Series,
                                           best_worst_classes, cell_text, load_results, overall_rows,
                                           per_class_rows)
from colorkeras.fileio import WrittenFiles, writing_into
from colorkeras.inference.predictor import toy_city_evidence
from colorkeras.training.run import BEST_MODEL, LOG_CSV, PREDICTIONS_FILE, Run, dataset_identity

_TITLES = {
    "psnr": "PSNR (dB) ↑",
    "ssim": "SSIM ↑",
    "lpips": "LPIPS ↓",
    "mse": "MSE ↓",
    "colorfulness_pred": "Colourfulness pred",
    "colorfulness_true": "Colourfulness true",
    "colorfulness_gap": "Colourfulness gap",
}


# ------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------
RANDOM_LPIPS_MARK = "†"


def _lpips_cell(series: Series, value: float) -> str:
    """LPIPS of random weights (test mode) is marked wherever it appears."""
    cell = cell_text("lpips", value)
    if cell != "n/a" and series.lpips.get("weights") == "random":
        cell += RANDOM_LPIPS_MARK
    return cell


def _metric_cells(series: Series, cls: str | None = None) -> list[str]:
    return [_lpips_cell(series, series.mean(m, cls)) if m == "lpips" else cell_text(m, series.mean(m, cls))
            for m in TABLE_METRICS]


def _lpips_notes(data: ReportData) -> list[str]:
    """Why an LPIPS column is empty, or why its numbers must not be compared."""
    notes: list[str] = []
    random_labels: list[str] = []
    missing: dict[str, list[str]] = {}
    for series in data.series:
        info = series.lpips
        if np.all(np.isnan(series.values("lpips"))):
            reason = info.get("reason") or "LPIPS was not computed"
            missing.setdefault(reason, []).append(series.label)
        elif info.get("weights") == "random":
            random_labels.append(series.label)
    for reason, labels in missing.items():
        notes.append(f"LPIPS n/a ({', '.join(labels)}): {reason}.")
    if random_labels:
        notes.append(f"{RANDOM_LPIPS_MARK} LPIPS of {', '.join(random_labels)} computed with random "
                     "weights (test mode): not a real LPIPS value.")
    return notes


def _overall_table(data: ReportData) -> tuple[list[str], list[list[str]], list[str]]:
    header = ["Model", *(_TITLES[m] for m in TABLE_METRICS),
              "Colourfulness pred / true", "Source"]
    body = []
    series_of = {series.label: series for series in data.series}
    for row in overall_rows(data):
        study = row["source"] == REPORTED_BY_STUDY
        if study:
            cells = [cell_text(m, row[m]) for m in TABLE_METRICS]
            colorfulness = "—"
        else:
            cells = _metric_cells(series_of[row["model"]])
            colorfulness = (f"{cell_text('colorfulness_pred', row['colorfulness_pred'])} / "
                            f"{cell_text('colorfulness_true', row['colorfulness_true'])}")
        body.append([row["model"], *cells, colorfulness,
                     REPORTED_BY_STUDY if study else f"ours ({data.split}, {row['n']} images)"])
    notes = _verdicts(data) + _lpips_notes(data)
    if data.sun397:
        notes.append(f"Rows marked '{REPORTED_BY_STUDY}' are the numbers published by {STUDY_CITATION} "
                     "for its own (unseeded) test split at 256x256; we did not compute them.")
    return header, body, notes


def _verdicts(data: ReportData) -> list[str]:
    """One line per model: where it stands against the grey floor, in PSNR and MSE."""
    lines = []
    grey_psnr, grey_mse = data.grey.mean("psnr"), data.grey.mean("mse")
    for series in data.models:
        psnr, mse = series.mean("psnr"), series.mean("mse")
        where = grey_floor_verdict(*(value if math.isfinite(value) else None for value in (psnr, grey_psnr)))
        if math.isfinite(psnr) and math.isfinite(grey_psnr):
            where += f" in PSNR ({psnr:.2f} vs {grey_psnr:.2f} dB)"
        beats = psnr > grey_psnr and mse < grey_mse
        loses = psnr < grey_psnr and mse > grey_mse
        verdict = ("it beats predicting no colour on these images" if beats else
                   "it does worse than predicting no colour on these images" if loses else
                   "mixed against predicting no colour (PSNR and MSE disagree)")
        lines.append(f"Verdict, {series.label}: {where}, MSE {mse:.4f} vs {grey_mse:.4f}: {verdict}.")
    return lines


def _toy_notes(data: ReportData) -> list[str]:
    """A warning for each model trained on the synthetic toy city (its numbers say nothing
    about real photos)."""
    notes = []
    for series in data.models:
        evidence = toy_city_evidence(series.run_dir)
        if evidence:
            notes.append(f"{series.label} is a toy: trained on the synthetic toy city ({evidence}), not on "
                         "photographs; on real photos it gives wrong colours (often a blue cast).")
    return notes


def _per_class_table(data: ReportData):
    header = ["Class", "n", "Model", *(_TITLES[m] for m in TABLE_METRICS),
              "PSNR gain over grey (dB)", "MSE reduction over grey"]
    body = []
    series_of = {series.label: series for series in data.series}
    for row in per_class_rows(data):
        grey = row["model"] == GREY_FLOOR
        body.append([row["class"], str(row["n"]), row["model"], *_metric_cells(series_of[row["model"]], row["class"]),
                     "—" if grey else cell_text("psnr", row["psnr_gain"], signed=True),
                     "—" if grey else cell_text("mse", row["mse_reduction"], signed=True)])
    return header, body


def _best_worst_table(data: ReportData, series: Series):
    header = ["", "Class", "n", *(_TITLES[m] for m in TABLE_METRICS)]
    best, worst = best_worst_classes(data, series)
    body = []
    for which, classes in (("best", best), ("worst", worst)):
        for cls in classes:
            n = str(len(series.values("mse", cls)))
            body.append([which, cls, n, *_metric_cells(series, cls)])
            # Every table shows the grey floor: here, on the same class's images.
            body.append(["", f"{cls} (grey floor)", n, *_metric_cells(data.grey, cls)])
    return header, body


def _study_best_worst_table():
    header = ["", "Class", *(_TITLES[m] for m in TABLE_METRICS)]
    body = []
    for which, rows in (("best", STUDY_BEST_CLASSES), ("worst", STUDY_WORST_CLASSES)):
        for cls, *values in rows:
            body.append([which, cls, *(cell_text(m, v) for m, v in zip(TABLE_METRICS, values))])
    return header, body


def markdown_table(header: list[str], body: list[list[str]]) -> str:
    """A Markdown table; numeric columns are right-aligned."""
    def line(cells):
        return "| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |"

    aligns = ["---" if i == 0 or not body or not _numeric(body[0][i]) else "---:" for i in range(len(header))]
    return "\n".join([line(header), "| " + " | ".join(aligns) + " |", *(line(r) for r in body)])


def _numeric(text: str) -> bool:
    head = str(text).split(" ")[0].lstrip("+-").rstrip(RANDOM_LPIPS_MARK)
    return head.replace(".", "", 1).isdigit() or head in ("n/a", "inf", "—")


def format_overall_table(run_dirs, split: str = "test") -> str:
    """The overall table (Markdown, with its footnotes) of evaluated runs, e.g. to print last."""
    data = run_dirs if isinstance(run_dirs, ReportData) else load_results(run_dirs, split)
    header, body, notes = _overall_table(data)
    lines = [data.dataset_line(), "", markdown_table(header, body)]
    if notes:
        lines += [""] + [f"- {note}" for note in notes]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------
# CSV
# ------------------------------------------------------------------------------------
def csv_text(columns: list[str], rows: list[dict]) -> str:
    """Rows of dicts as CSV text: floats as ``format_number`` writes them, None blank."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if row.get(c) is None else format_number(row[c]) if isinstance(row[c], float)
                         else row[c] for c in columns])
    return buffer.getvalue()


# ------------------------------------------------------------------------------------
# The document, rendered to Markdown and HTML from one description
# ------------------------------------------------------------------------------------
class _Document:
    def __init__(self):
        self.blocks: list[tuple] = []

    def heading(self, level: int, text: str):
        self.blocks.append(("heading", level, text))

    def paragraph(self, text: str):
        self.blocks.append(("paragraph", text))

    def bullets(self, items: list[str]):
        if items:
            self.blocks.append(("bullets", list(items)))

    def table(self, header, body):
        self.blocks.append(("table", header, body))

    def image(self, src: str, alt: str):
        self.blocks.append(("image", src, alt))

    def markdown(self) -> str:
        parts = []
        for kind, *args in self.blocks:
            if kind == "heading":
                parts.append("#" * args[0] + " " + args[1])
            elif kind == "paragraph":
                parts.append(args[0])
            elif kind == "bullets":
                parts.append("\n".join(f"- {item}" for item in args[0]))
            elif kind == "table":
                parts.append(markdown_table(*args))
            elif kind == "image":
                parts.append(f"![{args[1]}]({args[0]})")
        return "\n\n".join(parts) + "\n"

    def html(self, title: str) -> str:
        esc = html.escape
        parts = []
        for kind, *args in self.blocks:
            if kind == "heading":
                parts.append(f"<h{args[0]}>{esc(args[1])}</h{args[0]}>")
            elif kind == "paragraph":
                parts.append(f"<p>{esc(args[0])}</p>")
            elif kind == "bullets":
                parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in args[0]) + "</ul>")
            elif kind == "table":
                header, body = args
                numeric = [i > 0 and bool(body) and _numeric(body[0][i]) for i in range(len(header))]
                head = "".join(f"<th>{esc(h)}</th>" for h in header)
                rows = "".join(
                    "<tr>" + "".join(f'<td class="{"num" if numeric[i] else "txt"}">{esc(str(c))}</td>'
                                     for i, c in enumerate(r)) + "</tr>" for r in body)
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
            elif kind == "image":
                parts.append(f'<figure><img src="{esc(args[0])}" alt="{esc(args[1])}">'
                             f"<figcaption>{esc(args[1])}</figcaption></figure>")
        style = (
            "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;color:#222}"
            "table{border-collapse:collapse;margin:1rem 0;font-size:0.9rem}"
            "th,td{border:1px solid #ccc;padding:0.25rem 0.6rem}th{background:#f3f3f3}"
            "td.num{text-align:right;font-variant-numeric:tabular-nums}"
            "img{max-width:100%}figcaption{font-size:0.85rem;color:#555}"
        )
        return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
                f"<title>{esc(title)}</title><style>{style}</style></head><body>\n"
                + "\n".join(parts) + "\n</body></html>\n")


def _run_lines(data: ReportData, out_dir: Path) -> list[str]:
    lines = []
    for series in data.models:
        lpips = series.lpips.get("description") if series.lpips.get("available") else "LPIPS n/a"
        # Relative to the report, so a committed report does not carry one machine's paths.
        where = os.path.relpath(series.run_dir.resolve(), out_dir.resolve())
        lines.append(f"{series.label}: run folder {where} ({lpips})")
    return lines


# Every file write_report may write into its folder (checked before the first is written).
REPORT_FILES = ("overall.csv", "per_class.csv", "qualitative.png", "gain_per_class.png", "learning_curve.png",
                "report.md", "report.html")


def write_report(run_dirs, out_dir, split: str = "test", sample_rows=None, data_root=None,
                 overwrite: bool = False) -> dict[str, Path]:
    """Write the report of one or several evaluated runs into ``out_dir``.

    Args:
        run_dirs: run folders evaluated on the same images (``colorkeras.evaluation.evaluate``).
        out_dir: the report folder (created).
        split: the evaluated split to report.
        sample_rows: dataset rows (of the split) for the qualitative grid; default: the
            best two and worst two by the first model's MSE and one of each class not
            yet shown (``default_sample_rows``).
        data_root: the prepared dataset: chooses the evaluation when a run was evaluated
            on several datasets, and is read for the qualitative grid (needed only when
            the dataset is no longer where the evaluation found it).
        overwrite: also replace files of the report's names (`REPORT_FILES`) that
            report did not write; without it they are refused, before anything is written
            (its own earlier files, unchanged since, are always replaced). What it wrote is
            recorded in the folder's hidden ``.colorkeras-written.json``.

    Returns:
        name -> written path: "markdown", "html", "overall_csv", "per_class_csv",
        "gain_per_class", "learning_curve" when a run has a log and, when the
        dataset can be read, "qualitative".

    Raises:
        ReportError: runs that cannot be reported (see ``load_results``), or an output
            folder that cannot be written (a file, a full or read-only disk).
        NotWrittenByUs: a file in the way that report did not write (without overwrite).
        FolderInUse: another colorkeras process is writing into ``out_dir``.
    """
    data = load_results(run_dirs, split, _dataset_identity(data_root))
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"--out {out_dir} is a file, not a folder; choose a folder for the report")
    sample_rows = default_sample_rows(data) if sample_rows is None else _checked_rows(data, sample_rows)
    try:
        with writing_into(out_dir, "report", overwrite) as files:
            files.check(REPORT_FILES)
            return _write_report(data, files, sample_rows, data_root)
    except OSError as error:
        # Every read inside _write_report handles its own errors (a figure left out, with a
        # note), so what arrives here failed to write into out_dir.
        where = error.filename or out_dir
        raise ReportError(
            f"the report could not be written to {out_dir}: {error.strerror or error} ({where}); "
            "free some space or choose another --out"
        ) from error


def _dataset_identity(data_root) -> dict | None:
    """The identity of the prepared dataset at ``data_root`` (None: not given)."""
    if data_root is None:
        return None
    try:
        return dataset_identity(PreparedDataset.open(data_root))
    except DatasetError as error:
        raise ReportError(str(error)) from error


def _checked_rows(data: ReportData, sample_rows) -> list[int]:
    rows = [int(r) for r in sample_rows]
    bad = [r for r in rows if not 0 <= r < data.count]
    if bad or not rows:
        raise InvalidArgument(f"sample_rows must be rows 0..{data.count - 1} of the {data.split} split, "
                              f"got {bad or 'none'}")
    return rows


def _write_report(data: ReportData, files: WrittenFiles, sample_rows: list[int], data_root) -> dict[str, Path]:
    written = _write_csv(data, files)
    figure_notes = _write_figures(data, files, sample_rows, data_root, written)
    title = f"Colorization report — {data.evaluation.get('dataset_name', '')} ({data.split})"
    doc = _Document()
    doc.heading(1, title)
    _add_introduction(doc, data, files.folder)
    _add_tables(doc, data)
    _add_figures(doc, written, sample_rows, figure_notes)
    written["markdown"] = files.write_text("report.md", doc.markdown())
    written["html"] = files.write_text("report.html", doc.html(title))
    return written


def _write_csv(data: ReportData, files: WrittenFiles) -> dict[str, Path]:
    overall_columns = ["model", "source", "split", "n", *METRIC_NAMES]
    per_class_columns = ["class", "model", "n", *METRIC_NAMES, "psnr_gain", "mse_reduction"]
    return {"overall_csv": files.write_text("overall.csv", csv_text(overall_columns, overall_rows(data))),
            "per_class_csv": files.write_text("per_class.csv", csv_text(per_class_columns, per_class_rows(data)))}


def _write_figures(data: ReportData, files: WrittenFiles, sample_rows: list[int], data_root,
                   written: dict[str, Path]) -> list[str]:
    """Draw and write the figures into ``written``; returns the notes on those left out.

    Inputs that cannot be read leave a figure out (with a note); a figure that cannot be
    written is an error of the output (raised by write_report).
    """
    notes = []
    root = Path(data_root) if data_root is not None else Path(data.evaluation.get("dataset_root", ""))
    try:
        grid = qualitative_figure(data, sample_rows, PreparedDataset.open(root))
    except (DatasetError, OSError) as error:
        grid = None
        notes.append(f"The qualitative grid was not drawn: its inputs (the prepared dataset "
                     f"{root} and the runs' {PREDICTIONS_FILE}) could not be read ({error}).")
    if grid is not None:
        written["qualitative"] = save_figure(grid, files, "qualitative.png")
    written["gain_per_class"] = save_figure(gain_figure(data), files, "gain_per_class.png")
    logged = [series for series in data.models if Run(series.run_dir).log_path.is_file()]
    try:
        curves = learning_curve_figure([s.run_dir for s in logged], [s.label for s in logged]) if logged else None
    except (OSError, ValueError, KeyError) as error:
        curves = None
        notes.append(f"The learning curves were not drawn: a {LOG_CSV} could not be read ({error}).")
    if curves is not None:
        written["learning_curve"] = save_figure(curves, files, "learning_curve.png")
    unlogged = [series.label for series in data.models if all(series is not s for s in logged)]
    if unlogged:
        folders = "its run folder has" if len(unlogged) == 1 else "their run folders have"
        notes.append(f"No learning curve for {', '.join(unlogged)}: {folders} no {LOG_CSV}.")
    return notes


def _add_introduction(doc: _Document, data: ReportData, out_dir: Path) -> None:
    doc.paragraph(data.dataset_line())
    if not data.sun397:
        doc.paragraph("These images are not SUN397 urban-32, so the study's published numbers are not "
                      "comparable and are not shown; compare the models with the grey floor instead.")
    doc.bullets(_run_lines(data, out_dir))
    toy = _toy_notes(data)
    if toy:
        doc.paragraph("**Warning:** " + " ".join(toy))
    doc.paragraph(
        "Means over images (per image first; a class mean is over that class's images, the overall "
        "mean over all images). PSNR and SSIM on sRGB in [0, 1] after putting the predicted ab on the "
        "true L; MSE on normalised ab (ab / 127.5); LPIPS v0.1 AlexNet on RGB in [-1, 1]; colourfulness "
        "after Hasler & Süsstrunk on 0-255 RGB. The grey floor predicts no colour (ab = 0): it already "
        "scores well in PSNR and SSIM because both are dominated by the L channel the model is given, "
        "so a model's numbers mean something only next to it."
    )


def _add_tables(doc: _Document, data: ReportData) -> None:
    doc.heading(2, "Overall")
    header, body, notes = _overall_table(data)
    doc.table(header, body)
    doc.bullets(notes)
    doc.heading(2, "Best and worst classes by MSE")
    if len(data.classes) < 2:
        doc.paragraph(f"One class ({', '.join(data.classes)}): there is no best or worst class to show; "
                      "the overall table is its table.")
    for series in (data.models if len(data.classes) >= 2 else []):
        doc.heading(3, series.label)
        doc.table(*_best_worst_table(data, series))
    if data.sun397:
        doc.heading(3, f"{REPORTED_BY_STUDY} (model not stated)")
        doc.table(*_study_best_worst_table())
        doc.paragraph(f"Numbers published by {STUDY_CITATION}; its class names are mapped onto ours.")
    doc.heading(2, "Per class")
    doc.table(*_per_class_table(data))
    if _lpips_notes(data):
        doc.paragraph("LPIPS: see the notes under the overall table.")


def _add_figures(doc: _Document, written: dict[str, Path], sample_rows: list[int], notes: list[str]) -> None:
    doc.heading(2, "Figures")
    if "qualitative" in written:
        doc.image("qualitative.png", "Input L | each model | truth, for rows " + ", ".join(map(str, sample_rows)))
    doc.image("gain_per_class.png", "PSNR gain and MSE reduction of each model over the grey floor, per class")
    if "learning_curve" in written:
        doc.image("learning_curve.png", f"Training and validation loss per epoch ({LOG_CSV}); the dotted line "
                  f"marks the epoch saved as {BEST_MODEL}")
    doc.bullets(notes)


# ------------------------------------------------------------------------------------
# In a notebook: the report inline, and our runs against the study
# ------------------------------------------------------------------------------------
_MARKDOWN_IMAGE = re.compile(r"^!\[(?P<alt>[^\]]*)\]\((?P<src>[^)\s]+)\)\s*$")


def report_parts(markdown_path) -> list:
    """A Markdown report as IPython display objects, with its figures as inline images.

    A notebook shows Markdown but not the images it links relatively, so each image line
    becomes an ``IPython.display.Image`` of the file beside the report.
    """
    from IPython.display import Image, Markdown

    path = Path(markdown_path)
    parts: list = []
    text: list[str] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _MARKDOWN_IMAGE.match(line)
        if match is None:
            text.append(line)
            continue
        if any(t.strip() for t in text):
            parts.append(Markdown("\n".join(text)))
        text = []
        parts.append(Markdown(f"*{match['alt']}*"))
        parts.append(Image(filename=str(path.parent / match["src"])))
    if any(t.strip() for t in text):
        parts.append(Markdown("\n".join(text)))
    return parts


def study_comparison_markdown(run_dirs, split: str = "test") -> str:
    """Our runs next to the grey floor and the study's published table, as Markdown.

    On SUN397 urban-32 the study's rows sit in our overall table. On any other data they
    are shown apart, labelled as not comparable, so no one reads them as a result.
    """
    data = load_results(run_dirs, split)
    parts = ["### Our runs, the grey floor" + (" and the study" if data.sun397 else ""), "",
             format_overall_table(data), ""]
    ours = [row for row in overall_rows(data) if row["source"] == "ours"]
    grey = ours[-1]  # overall_rows lists the models first, then the grey floor
    gains = [f"- **{row['model']}**: {row['psnr'] - grey['psnr']:+.2f} dB PSNR and "
             f"{grey['mse'] - row['mse']:+.4f} MSE reduction over the grey floor"
             for row in ours[:-1]]
    parts += ["Gain over the grey floor (ab = 0), overall:", "", *gains, ""]
    if not data.sun397:
        study = [[model, f"{psnr:.2f}", f"{ssim:.4f}", f"{lpips:.4f}", f"{mse:.4f}"]
                 for model, psnr, ssim, lpips, mse in STUDY_OVERALL]
        parts += [
            f"### The study's table ({REPORTED_BY_STUDY}; not comparable here)", "",
            f"Published by {STUDY_CITATION} for SUN397 urban-32 at 256x256. These runs are on other "
            "images, so compare them with the grey floor above, not with these numbers.", "",
            markdown_table(["Model", "PSNR (dB) ↑", "SSIM ↑", "LPIPS ↓", "MSE ↓"], study),
        ]
    return "\n".join(parts).rstrip() + "\n"

