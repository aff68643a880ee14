"""Themes: the Qt style sheets in resources/, the chart colours that go with them, and the icons."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from gui.values import ThemeColors

log = logging.getLogger(__name__)

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
ICONS = RESOURCES / "icons"

_STATES_DARK = {
    "live": "#2ebd85",
    "syncing": "#e0b341",
    "resyncing": "#f08a3c",
    "stale": "#8a8f98",
    "error": "#f6465d",
}
_STATES_LIGHT = {
    "live": "#0f8a5f",
    "syncing": "#a77800",
    "resyncing": "#c25a0a",
    "stale": "#6b7280",
    "error": "#d12d44",
}

THEMES: dict[str, ThemeColors] = {
    "dark": ThemeColors(
        name="dark",
        background="#14161a",
        foreground="#d7dae0",
        muted="#8a8f98",
        grid="#2a2e36",
        bid="#2ebd85",
        ask="#f6465d",
        bid_fill="#2ebd8540",
        ask_fill="#f6465d40",
        mid="#6ea8fe",
        spread="#e0b341",
        state_colors=_STATES_DARK,
    ),
    "light": ThemeColors(
        name="light",
        background="#ffffff",
        foreground="#1d2129",
        muted="#6b7280",
        grid="#e3e6ea",
        bid="#0f8a5f",
        ask="#d12d44",
        bid_fill="#0f8a5f33",
        ask_fill="#d12d4433",
        mid="#1f6feb",
        spread="#a77800",
        state_colors=_STATES_LIGHT,
    ),
}


def colors(name: str) -> ThemeColors:
    return THEMES.get(name, THEMES["dark"])


def style_sheet(name: str) -> str:
    path = RESOURCES / f"{name}.qss"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        log.warning("style sheet missing path=%s error=%s", path, exc)
        return ""
    # Style sheets resolve url() against the working directory: make icon paths absolute.
    return text.replace("url(icons/", f"url({ICONS.as_posix()}/")


def apply_theme(app: QApplication, name: str) -> ThemeColors:
    app.setStyle("Fusion")
    app.setStyleSheet(style_sheet(name))
    return colors(name)


def icon(name: str) -> QIcon:
    path = ICONS / f"{name}.svg"
    return QIcon(str(path)) if path.exists() else QIcon()
