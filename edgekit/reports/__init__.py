"""Reports: a self-contained HTML page (tables + embedded plots) for a pipeline run."""

from edgekit.reports.html import render, write_report

__all__ = ["render", "write_report"]
