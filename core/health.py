"""Is this run's harvest believable? Layout drift turns a quiet run of empty digests into a failed run."""

from __future__ import annotations

from dataclasses import dataclass, field

# Failure kinds that mean "the page came, but the parser could not read it".
UNREADABLE_KINDS = ("parse_error", "invalid", "shrunk")


@dataclass
class RunHealth:
    posts_read: int = 0  # post pages downloaded that were HTML
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (url, reason)
    empty_listings: list[str] = field(default_factory=list)  # listing pages that named no post

    def record_failure(self, failure) -> None:
        if failure.kind in UNREADABLE_KINDS:
            self.unreadable.append((failure.url, failure.message.split(": ", 1)[-1]))

    def problem(self) -> str | None:
        """A one-paragraph reason to call the run failed, or None when it looks healthy.

        A listing page naming no post, or most downloaded posts unreadable, means the site's theme
        changed under the parser: better a failed run that cron reports than an archive that fills
        with nothing.
        """
        problems = []
        if self.empty_listings:
            problems.append(
                f"{len(self.empty_listings)} listing page(s) named no digest posts: "
                + ", ".join(self.empty_listings[:3])
            )
        if self.posts_read >= 2 and len(self.unreadable) * 2 > self.posts_read:
            examples = "; ".join(f"{url} ({reason})" for url, reason in self.unreadable[:3])
            problems.append(
                f"{len(self.unreadable)} of {self.posts_read} downloaded posts had no readable "
                f"title or entries, e.g. {examples}"
            )
        if not problems:
            return None
        return (
            "layout drift? " + " and ".join(problems) + ". Nothing unreadable was stored; check the parser "
            "against the site's current pages."
        )
