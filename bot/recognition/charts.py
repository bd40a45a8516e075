"""Report charts as PNG bytes, drawn with matplotlib's Agg renderer (no display, no pyplot
state shared between calls, safe in the bot's process).

Sized for Discord, which previews an image at about 400-550 pixels wide: large type, thick
lines, few words, colours that stay apart for colour-blind readers.
"""

from __future__ import annotations

import io

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from bot.recognition.reports import CohortReport, ProgressReport

DPI = 100
FONT = 15
# Okabe-Ito: distinguishable with every common kind of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
HEAT = LinearSegmentedColormap.from_list("skill", ["#f7fbff", "#9ecae1", "#2171b5", "#08306b"])


def progress_chart(report: ProgressReport, *, line: int | None = None) -> bytes:
    """Score by attempt, one line per scenario; `line`: a score to draw across (the recognition line)."""
    figure = Figure(figsize=(8, 4.5), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    attempts = sorted((a.ended_at, a.session_id, p) for p in report.scenarios for a in p.attempts)
    order = {session_id: index for index, (_, session_id, _) in enumerate(attempts, start=1)}
    explained = False
    for colour, progress in zip(PALETTE * 4, report.scenarios):
        xs = [order[a.session_id] for a in progress.attempts]
        ys = [a.effective for a in progress.attempts]
        axes.plot(xs, ys, "-o", color=colour, linewidth=3, markersize=9, label=_short(progress.title.split(":")[0], 28))
        changed = [(order[a.session_id], a.score) for a in progress.attempts if a.override is not None]
        if changed:  # where an instructor changed a score: the earned score as a hollow ring
            axes.plot([x for x, _ in changed], [y for _, y in changed], "o", markerfacecolor="none", markeredgecolor=colour, markersize=11,
                      markeredgewidth=2, label=None if explained else "earned, before an instructor's change")
            explained = True
    if line is not None:
        axes.axhline(line, color="#555555", linestyle="--", linewidth=1.5)
        axes.text(0.99, line + 1.5, f"recognition {line}", transform=axes.get_yaxis_transform(), ha="right", fontsize=FONT - 3, color="#555555")
    axes.set_ylim(0, 105)
    axes.set_xlim(0.5, max(len(attempts), 1) + 0.5)
    axes.set_xticks(range(1, len(attempts) + 1) if len(attempts) <= 15 else range(1, len(attempts) + 1, max(1, len(attempts) // 10)))
    axes.set_xlabel("attempt", fontsize=FONT)
    axes.set_ylabel("score", fontsize=FONT)
    axes.tick_params(labelsize=FONT - 2)
    axes.grid(axis="y", alpha=0.3)
    axes.spines[["top", "right"]].set_visible(False)
    axes.set_title(f"{_short(report.member.display_name, 30)}: progress", fontsize=FONT + 3, loc="left", fontweight="bold")
    if report.scenarios:
        axes.legend(fontsize=FONT - 3, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(3, len(report.scenarios) + explained), frameon=False)
    else:
        axes.text(0.5, 0.5, "no finished role-plays yet", transform=axes.transAxes, ha="center", fontsize=FONT, color="#555555")
    figure.tight_layout()
    return _png(figure)


def skills_heatmap(report: CohortReport) -> bytes:
    """Share of each trainee's finished role-plays in which each skill was earned in full: one
    row per skill, the least often earned at the top (what to reteach first), one column per
    trainee. A trainee who never met a skill is grey, not 0%."""
    people = [row for row in report.rows if row.progress.finished]
    skills = report.skills_hardest_first()
    width = min(18.0, max(7.5, 4.2 + 1.0 * len(people)))
    height = min(24.0, 1.9 + 0.55 * max(len(skills), 1))
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    if not people or not skills:
        axes.axis("off")
        axes.text(0.5, 0.5, f"{_short(report.cohort.name, 40)}: no finished role-plays yet", ha="center", va="center", fontsize=FONT)
        return _png(figure)
    values = [[report.share(person, skill) for person in people] for skill, _ in skills]
    colours = HEAT.with_extremes(under="#dddddd")
    image = axes.imshow([[-1.0 if v is None else v for v in line] for line in values], cmap=colours, vmin=0, vmax=1, aspect="auto")
    annotate = len(people) <= 14
    for y, line in enumerate(values):
        for x, value in enumerate(line):
            if value is None or annotate:
                text = "\u2013" if value is None else f"{value:.0%}"
                axes.text(x, y, text, ha="center", va="center", fontsize=FONT - 2,
                          color="white" if value is not None and value > 0.55 else "#222222", fontweight="bold")
    axes.set_yticks(range(len(skills)), [_short(label, 26) for _, label in skills], fontsize=FONT - 1)
    axes.set_xticks(range(len(people)), [_short(person.member.display_name, 14) for person in people], fontsize=FONT - 2,
                    rotation=30 if len(people) > 4 else 0, ha="left" if len(people) > 4 else "center")
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    if not annotate:  # too many trainees to print a share in each cell: a scale instead
        bar = figure.colorbar(image, ax=axes, fraction=0.03, pad=0.02)
        bar.set_ticks([0, 0.5, 1], labels=["0%", "50%", "100%"])
        bar.ax.tick_params(labelsize=FONT - 3)
    figure.suptitle(f"{_short(report.cohort.name, 34)}: skills earned in full", fontsize=FONT + 2, x=0.02, ha="left", fontweight="bold")
    figure.tight_layout()
    return _png(figure)


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
