"""The cohort heatmap stays legible at a chat preview's size: a bounded number of skills and
trainees an image, a large cohort on several images with the same skills."""

from __future__ import annotations

import struct

from bot.recognition import charts
from bot.recognition.reports import CohortReport, CohortRowReport, ProgressReport, SkillTally
from bot.store.rows import CohortRow, MemberRow

PNG = b"\x89PNG\r\n\x1a\n"


def size(image: bytes) -> tuple[int, int]:
    assert image[:8] == PNG and image[12:16] == b"IHDR"
    return struct.unpack(">II", image[16:24])  # type: ignore[return-value]


def cohort(people: int, skills: int) -> CohortReport:
    names = [f"skill_{n:02d}" for n in range(skills)]
    rows = []
    for number in range(people):
        # Trainee n earned skill k in full in k of the skills' 20 sessions (fewer for the first skills).
        tallies = tuple(SkillTally(name, name, 20, min(20, k + number), 0, 20 - min(20, k + number)) for k, name in enumerate(names))
        progress = ProgressReport(
            member=MemberRow(number + 1, 0, None, f"Trainee number {number + 1}", "trainee"), started=1, finished=1, scenarios=(),
            skills=tallies, all_five=0, all_five_known=1, badges=(), kudos=0, assignments=(), overrides=(),
        )
        rows.append(CohortRowReport(progress.member, progress))
    return CohortReport(CohortRow(1, 0, "Spring academy", None), tuple(rows), tuple((n, n.replace("_", " ")) for n in names), ())


def test_a_small_cohort_is_one_image_with_every_skill() -> None:
    (image,) = charts.skills_heatmaps(cohort(4, 7))
    width, height = size(image)
    assert 700 <= width <= 1000 and height <= 800


def test_a_large_cohort_takes_several_images_each_legible() -> None:
    report = cohort(14, 25)
    images = charts.skills_heatmaps(report)
    assert len(images) == 3  # 6 + 6 + 2 trainees
    for image in images:
        width, height = size(image)
        assert width <= 1000 and height <= 800  # Discord shows about 550 pixels across: text stays readable
    # The rows are the least often earned skills, the same on every image.
    hardest = report.skills_hardest_first()
    assert hardest[0][0] == "skill_00" and len(hardest) == 25
    assert charts.skills_heatmap(report) == images[0]


def test_an_empty_cohort_says_so() -> None:
    (image,) = charts.skills_heatmaps(cohort(0, 3))
    assert size(image)[0] >= 700
