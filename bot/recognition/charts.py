"""Report charts as PNG bytes, drawn with matplotlib's Agg renderer (no display, no pyplot
state shared between calls, safe in the bot's process).

Sized for Discord, which previews an image at about 400-550 pixels wide: large type, thick
lines, few words, colours that stay apart for colour-blind readers.
"""

from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import LinearSegmentedColormap
from matplotlib.figure import Figure

from bot.recognition.reports import CohortReport, CohortRowReport, ProgressReport

DPI = 100
FONT = 15
# Okabe-Ito: distinguishable with every common kind of colour blindness.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
MARKERS = ("o", "s", "^", "D")
HEAT = LinearSegmentedColormap.from_list("skill", ["#f7fbff", "#9ecae1", "#2171b5", "#08306b"])


def progress_chart(report: ProgressReport, *, line: int | None = None) -> bytes:
    """Score by attempt, one line per scenario; `line`: a score to draw across (the recognition line)."""
    # Each row of the legend below the plot makes the image taller, so the plot keeps its size.
    entries = len(report.scenarios) + any(a.override is not None for p in report.scenarios for a in p.attempts)
    columns = 3 if entries <= 6 else 2  # three columns of long names would not fit across
    legend_rows = math.ceil(entries / columns)
    figure = Figure(figsize=(8, 4.5 + 0.3 * max(0, legend_rows - 1)), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    attempts = sorted((a.ended_at, a.session_id, p) for p in report.scenarios for a in p.attempts)
    order = {session_id: index for index, (_, session_id, _) in enumerate(attempts, start=1)}
    explained = False
    for index, progress in enumerate(report.scenarios):
        # Past the palette's eight colours, another marker shape tells the lines apart.
        colour, marker = PALETTE[index % len(PALETTE)], MARKERS[index // len(PALETTE) % len(MARKERS)]
        xs = [order[a.session_id] for a in progress.attempts]
        ys = [a.effective for a in progress.attempts]
        axes.plot(xs, ys, "-", marker=marker, color=colour, linewidth=3, markersize=9, label=_short(short_title(progress.title), 28))
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
        figure.legend(fontsize=FONT - 3, loc="outside lower center", ncol=min(columns, entries), frameon=False, handlelength=1.6)
    else:
        axes.text(0.5, 0.5, "no finished role-plays yet", transform=axes.transAxes, ha="center", fontsize=FONT, color="#555555")
    return _png(figure)


PEOPLE_PER_HEATMAP = 6  # more columns would not be legible at Discord's preview size: further trainees go on further images
SKILLS_PER_HEATMAP = 10  # the least often earned; the cohort's table (CSV) has every skill


def skills_heatmaps(report: CohortReport) -> list[bytes]:
    """Share of each trainee's finished role-plays in which each skill was earned in full: one
    row per skill, the least often earned at the top (what to reteach first), one column per
    trainee. A trainee who never met a skill is grey, not 0%. At most SKILLS_PER_HEATMAP rows
    and PEOPLE_PER_HEATMAP columns an image, so that each stays legible in a chat preview: a
    larger cohort gets several images, each with the same skills."""
    people = [row for row in report.rows if row.progress.finished]
    ranked = report.skills_hardest_first()
    skills = ranked[:SKILLS_PER_HEATMAP]
    if not people or not skills:
        figure = Figure(figsize=(7.5, 2.5), dpi=DPI)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        axes.axis("off")
        axes.text(0.5, 0.5, f"{_short(report.cohort.name, 40)}: no finished role-plays yet", ha="center", va="center", fontsize=FONT)
        return [_png(figure)]
    pages = [people[i:i + PEOPLE_PER_HEATMAP] for i in range(0, len(people), PEOPLE_PER_HEATMAP)]
    note = f"the {len(skills)} least often earned of {len(ranked)} skills (the table has them all)" if len(ranked) > len(skills) else ""
    return [_heatmap(report, page, skills, note, f" ({number} of {len(pages)})" if len(pages) > 1 else "")
            for number, page in enumerate(pages, start=1)]


def skills_heatmap(report: CohortReport) -> bytes:
    """The first image of `skills_heatmaps` (the whole cohort when it has at most PEOPLE_PER_HEATMAP trainees)."""
    return skills_heatmaps(report)[0]


def _heatmap(report: CohortReport, people: list[CohortRowReport], skills: list[tuple[str, str]], note: str, part: str) -> bytes:
    width = max(7.5, 4.2 + 0.9 * len(people))
    height = 1.9 + 0.55 * len(skills) + (0.35 if note else 0)
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    values = [[report.share(person, skill) for person in people] for skill, _ in skills]
    colours = HEAT.with_extremes(under="#dddddd")
    axes.imshow([[-1.0 if v is None else v for v in line] for line in values], cmap=colours, vmin=0, vmax=1, aspect="auto")
    for y, line in enumerate(values):
        for x, value in enumerate(line):
            text = "\u2013" if value is None else f"{value:.0%}"
            axes.text(x, y, text, ha="center", va="center", fontsize=FONT - 2,
                      color="white" if value is not None and value > 0.55 else "#222222", fontweight="bold")
    axes.set_yticks(range(len(skills)), [_short(label, 24) for _, label in skills], fontsize=FONT - 1)
    axes.set_xticks(range(len(people)), [_short(person.member.display_name, 16) for person in people], fontsize=FONT - 2,
                    rotation=30 if len(people) > 4 else 0, ha="left" if len(people) > 4 else "center")
    axes.xaxis.tick_top()
    axes.tick_params(length=0)
    for spine in axes.spines.values():
        spine.set_visible(False)
    figure.suptitle(f"{_short(report.cohort.name, 30)}: skills earned in full{part}", fontsize=FONT + 2, x=0.02, ha="left", fontweight="bold")
    if note:
        figure.text(0.02, 0.01, note, fontsize=FONT - 3, color="#555555", ha="left", va="bottom")
    figure.tight_layout(rect=(0, 0.04 if note else 0, 1, 1))
    return _png(figure)


def short_title(title: str) -> str:
    """A scenario's name for a legend: its title before the colon ("Traffic stop"), unless that
    is a single word ("Follow-up"), which says too little beside the others."""
    head = title.split(":")[0].strip()
    return head if len(head.split()) > 1 or head == title else title


def _png(figure: Figure) -> bytes:
    out = io.BytesIO()
    figure.savefig(out, format="png", dpi=DPI)
    return out.getvalue()


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
