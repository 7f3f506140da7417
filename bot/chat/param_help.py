"""The detectors' parameter descriptions (detectors/), here so that the chat's catalogue
carries them (`python -m bot.locales` reads this file) and /thresholds shows them in the chat's
language; one not listed is shown as the detector states it."""

from __future__ import annotations

from bot.core.commands import N_ as _

__all__ = ["PARAM_HELP"]

PARAM_HELP: tuple[str, ...] = (
    _("previous days the expected value is built from"),
    _("half-width of the band in robust standard deviations"),
    _("adjacent slots each side whose errors set the width"),
    _("slots each side whose errors alone widen the band where larger (0 off)"),
    _("buckets of the fast level (recent vs median)"),
    _("robust sd within which a bucket counts for the level (not k)"),
    _("level_inlier x (steps per 15 minutes) ^ this at finer steps (0: the same at any step)"),
    _("buckets of the slow level (0 = one level only)"),
    _("most the fast level may differ from the slow one (share)"),
    _("weeks of the same weekday that shape the daily median (<2 off)"),
    _("hours each side over which this weekday's shape scales the daily median (0 = off)"),
    _("how much better (share) the weekday's shape must have forecast over the past week (-1 = "
      "wherever it stands out)"),
    _("standard errors of its own the weekday's shape is pulled towards 1 (0 = as it is)"),
    _("days for the same-time-of-day width; before that, the cold start"),
    _("hours of history before a band from recent hours (0 = off)"),
    _("width at least this share of what the 80th-pct error implies"),
    _("mostly-zero series: band covers the excursion this often/day"),
    _("hours of recent errors that widen the band on a noisy day"),
    _("the most a noisy day widens the band"),
    _("the most one side of the band widens where the errors on that side run wider (1 = the "
      "same both sides)"),
    _("a level change held for half of this is the new normal"),
    _("narrowest half-width, as a share of expected"),
    _("a point may fit the band of a point up to this many minutes before"),
    _("a level further from 0 than this many of its week's spans (1st-99th pct) counts as that "
      "far for relative changes and the narrowest width: smaller, more alerts (0 = off; no "
      "effect on counts; a share near 1 counts from 1)"),
    _("the wall clock the daily and weekly pattern follow: 09:00 stays 09:00 across daylight "
      "saving"),
    _("event counts: never narrower than Poisson, a missing bucket alerts (auto: whole "
      "non-negative values)"),
    _("previous buckets whose quartiles make the band"),
    _("IQRs added below Q1 and above Q3"),
    _("days each fit learns from"),
    _("days between refits (each block uses the fit before it)"),
    _("yes: never narrower than Poisson noise, a missing bucket alerts; auto: when "
      "whole >= 0"),
    _("robust STL (resists outliers, 6x slower)"),
    _("recent buckets whose deseasonalised median is the level (0 = the fit's last trend)"),
    _("trend component"),
    _("which moves alert"),
    _("buckets outside the band among the last persist_m"),
    _("window, in buckets, for the persistence rule"),
    _("half-widths away at which one bucket fires at once, at 15 minutes (see fine_severe)"),
    _("smallest |value - expected| / expected (see offset_spans)"),
    _("smallest |value - expected|, in units"),
    _("longest window (buckets) of the sustained-shift test (0 = off)"),
    _("the window's deviation, in combined half-widths, that fires"),
    _("the deviation, in combined half-widths, a rise over 2 buckets needs for that test "
      "(never less than window_score)"),
    _("a rise fires that test only with one of its buckets this many half-widths above the "
      "expected value (0 = any)"),
    _("buckets in a row the sustained-shift test must fire on a rise inside the band to alert "
      "(with window_up_peak below 1)"),
    _("buckets in a row the sustained-shift test must fire on a drop inside the band to alert"),
    _("smallest relative shift the sustained-shift test fires on"),
    _("smallest relative shift the sustained-shift test fires on in a series' first week, its "
      "weekdays not all seen yet (steps of 15 minutes and more; at most window_min_rel = off)"),
    _("counts: events expected over the longest window (pro rata)"),
    _("non-counts: share of a usual window's size for that test"),
    _("counts whose longest window expects fewer than window_min_expected events: windows up "
      "to this many buckets, each expecting that many (0 or at most window = off)"),
    _("most that test allows for errors that follow one another"),
    _("standard errors of the errors' correlation (last 96 buckets) put down to chance"),
    _("half-widths away at which a bucket counts for persistence"),
    _("a bucket outside fires at once if it got there in a move this many times the largest "
      "of the last 96 (0 = off)"),
    _("a missing bucket of a count fires when this many events were expected (0 never)"),
    _("how severe grows at finer steps and shrinks at coarser ones: severe x (steps per 15 "
      "min) ^ this; at finer steps the window's bar and a sudden move's size grow the same way"),
    _("persist_k, persist_m x (steps per 15 min) ^ this, finer steps"),
)
