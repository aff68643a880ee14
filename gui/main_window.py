"""The main window: banners, the symbols panel and the live view in a splitter, menus and status bar.

It only displays values and emits what the user asked for; the composition root (gui.app) connects
those requests to the services and the bridge's signals to the slots here.
"""

from __future__ import annotations

from PySide6.QtCore import QByteArray, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.formatting import fmt_bytes
from gui.models.ladder import LadderModel
from gui.models.symbols import SymbolTableModel
from gui.theme import icon
from gui.values import ConnectionView, StorageView, ThemeColors
from gui.widgets.banners import Banner
from gui.widgets.elided_label import ElidedLabel
from gui.widgets.history import HistoryPanel
from gui.widgets.live_view import LiveView
from gui.widgets.symbols_panel import SymbolsPanel

TITLE = "Depthbook"
PANEL_WIDTH = 590  # the symbols panel at start: its table's columns (symbols_panel.COLUMN_WIDTHS) and margins


class MainWindow(QMainWindow):
    close_requested = Signal()  # the user wants to quit; the app shuts down, then calls finish_close()
    open_database_requested = Signal()
    open_archive_requested = Signal()  # File → Open archive…: an archive URL or directory, read-only
    export_requested = Signal()  # File → Export…: the symbol and range in the History view
    settings_requested = Signal()
    about_requested = Signal()
    shortcuts_requested = Signal()
    theme_requested = Signal(str)
    read_only_requested = Signal()  # from the "database in use" banner
    follow_market_requested = Signal()  # Symbols → Follow the whole market…

    def __init__(
        self,
        symbol_model: SymbolTableModel,
        ladder_model: LadderModel,
        colors: ThemeColors,
        *,
        demo: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("mainWindow")
        self.demo = demo
        self.colors = colors
        self._connection: ConnectionView | None = None
        self._may_close = False
        self.setWindowTitle(f"{TITLE} — SIMULATED MARKET (demo)" if demo else TITLE)
        self.setWindowIcon(icon("depthbook"))
        self.resize(1400, 860)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        self.demo_banner = Banner(
            "demoBanner",
            "SIMULATED MARKET — prices come from Depthbook's built-in exchange simulator, not from Binance.",
        )
        self.demo_banner.setVisible(demo)
        self.error_banner = Banner("errorBanner", action="Dismiss")
        self.error_banner.action_clicked.connect(self.error_banner.hide)
        self.error_banner.hide()
        self.offer_banner = Banner("offerBanner", action="Open read-only")
        self.offer_banner.action_clicked.connect(self.read_only_requested)
        self.offer_banner.hide()
        for banner in (self.demo_banner, self.error_banner, self.offer_banner):
            layout.addWidget(banner)

        self.symbols_panel = SymbolsPanel(symbol_model, colors)
        self.live_view = LiveView(ladder_model, colors)
        self.history_panel = HistoryPanel(colors)
        self.tabs = QTabWidget()
        self.tabs.setObjectName("viewTabs")
        self.tabs.addTab(self.live_view, "Live")
        self.tabs.addTab(self.history_panel, "History")
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.symbols_panel)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([PANEL_WIDTH, 840])
        layout.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self._build_status_bar()
        self._build_menus()

    # --- construction --------------------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        bar.setSizeGripEnabled(False)
        # Long texts (an error, a deep database path) end in "…" rather than widen the window: tooltips have them.
        self.connection_dot = QLabel("●")  # coloured by the connection's state; the text beside it is plain
        self.connection_dot.setObjectName("connectionDot")
        self.connection_label = ElidedLabel("Connecting…")
        self.connection_label.setObjectName("connectionStatus")
        self.storage_label = ElidedLabel("", mode=Qt.TextElideMode.ElideMiddle, least=320, most=520)
        self.storage_label.setObjectName("storageStatus")
        self.errors_label = QLabel("")
        self.errors_label.setObjectName("writeErrors")
        connection = QWidget()  # the dot and its text side by side, closer than the status bar's own spacing
        row = QHBoxLayout(connection)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(5)
        row.addWidget(self.connection_dot)
        row.addWidget(self.connection_label, 1)
        bar.addWidget(connection, 1)
        bar.addPermanentWidget(self.storage_label)
        bar.addPermanentWidget(self.errors_label)

    def _build_menus(self) -> None:
        menus = self.menuBar()
        file_menu = menus.addMenu("&File")
        self.open_action = _action(self, "Open database read-only…", "open", QKeySequence.StandardKey.Open)
        self.open_action.triggered.connect(self.open_database_requested)
        self.open_archive_action = _action(self, "Open archive…", "open", None)
        self.open_archive_action.setToolTip("Browse a Parquet archive (s3://bucket/prefix or a directory), read-only")
        self.open_archive_action.triggered.connect(self.open_archive_requested)
        self.export_action = _action(self, "Export…", "open", QKeySequence("Ctrl+E"))
        self.export_action.setToolTip("Export the symbol and range in the History view as CSV or Parquet")
        self.export_action.triggered.connect(self.export_requested)
        self.quit_action = _action(self, "Quit", "quit", QKeySequence.StandardKey.Quit)
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)
        self.quit_action.triggered.connect(self.close)
        file_menu.addAction(self.open_action)
        file_menu.addAction(self.open_archive_action)
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)

        symbols_menu = menus.addMenu("&Symbols")
        self.add_action = _action(self, "Add symbol…", "add", QKeySequence("Ctrl+N"))
        self.add_action.triggered.connect(self.symbols_panel.focus_input)
        self.remove_action = _action(self, "Remove symbol", "remove", None)
        self.remove_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.remove_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # the table owns Del
        self.remove_action.triggered.connect(self.symbols_panel.remove_selected)
        self.record_action = _action(self, "Toggle recording", "record", QKeySequence("Ctrl+R"))
        self.record_action.triggered.connect(self._on_toggle_recording)
        for action in (self.add_action, self.remove_action, self.record_action):
            symbols_menu.addAction(action)
        symbols_menu.addSeparator()
        self.follow_market_action = _action(self, "Follow the whole market…", "add", QKeySequence("Ctrl+Shift+M"))
        self.follow_market_action.setToolTip("Follow (and optionally record) every TRADING symbol, new listings too")
        self.follow_market_action.triggered.connect(self.follow_market_requested)
        symbols_menu.addAction(self.follow_market_action)

        view_menu = menus.addMenu("&View")
        theme_menu = view_menu.addMenu(icon("theme"), "Theme")
        self.theme_group = QActionGroup(self)
        self.theme_actions: dict[str, QAction] = {}
        for name in ("dark", "light"):
            action = QAction(name.capitalize(), self, checkable=True)
            action.triggered.connect(lambda _checked=False, n=name: self.theme_requested.emit(n))
            self.theme_group.addAction(action)
            theme_menu.addAction(action)
            self.theme_actions[name] = action

        settings_menu = menus.addMenu("S&ettings")
        self.settings_action = _action(self, "Preferences…", "settings", QKeySequence("Ctrl+,"))
        self.settings_action.triggered.connect(self.settings_requested)
        settings_menu.addAction(self.settings_action)

        help_menu = menus.addMenu("&Help")
        self.shortcuts_action = _action(self, "Keyboard shortcuts and documentation", "about", QKeySequence("F1"))
        self.shortcuts_action.triggered.connect(self.shortcuts_requested)
        help_menu.addAction(self.shortcuts_action)
        self.about_action = _action(self, "About Depthbook", "about", None)
        self.about_action.triggered.connect(self.about_requested)
        help_menu.addAction(self.about_action)

    # --- slots the app connects ------------------------------------------------------------------------

    def set_colors(self, colors: ThemeColors) -> None:
        self.colors = colors
        if colors.name in self.theme_actions:
            self.theme_actions[colors.name].setChecked(True)
        self.symbols_panel.set_colors(colors)
        self.live_view.set_colors(colors)
        self.history_panel.set_colors(colors)
        if self._connection is not None:
            self.set_connection(self._connection)

    def set_connection(self, view: ConnectionView) -> None:
        self._connection = view
        states = self.colors.state_colors
        if view.connected:
            dot, text = states.get("live", "#2ebd85"), f"Connected · {view.endpoint} · {view.url}"
        elif view.error:
            dot, text = states.get("error", "#f6465d"), f"Disconnected · {view.endpoint} · {view.error}"
            if view.endpoint != "simulator":  # offline: the built-in exchange still shows what the app does
                text += " · no network? try the demo: depthbook --demo"
        elif not view.streams:
            dot, text = (
                states.get("stale", "#8a8f98"),
                f"Idle · {view.endpoint} · {view.url} · no symbol followed",
            )
        else:
            dot, text = states.get("syncing", "#e0b341"), f"Connecting · {view.endpoint} · {view.url}"
        self.connection_dot.setStyleSheet(f"color: {dot}")
        self.connection_label.setText(text)
        self.connection_label.setToolTip(f"{text}\nreconnects: {view.reconnects}")

    def set_storage(self, view: StorageView) -> None:
        if view.mode == "none":
            problem = view.problem or "no database open"
            self.storage_label.setText(f"DB: none · {problem}")
        else:
            mode = " · read-only" if view.mode == "read_only" else ""
            self.storage_label.setText(f"DB: {view.path} · {fmt_bytes(view.size_bytes)}{mode}")
        self.storage_label.setToolTip(view.problem or view.path)
        if view.write_errors:
            self.errors_label.setText(f'<span style="color:#f6465d">Write errors: {view.write_errors}</span>')
            self.errors_label.setToolTip(view.last_error or "")
        else:
            self.errors_label.setText("Write errors: 0")
            self.errors_label.setToolTip("")
        self.record_action.setEnabled(view.mode == "writer")

    def set_demo_detail(self, detail: str) -> None:
        self.demo_banner.set_text(
            "SIMULATED MARKET — prices come from Depthbook's built-in exchange simulator, not from Binance. "
            + detail
        )

    def show_error(self, sentence: str) -> None:
        self.error_banner.set_text(sentence)
        self.error_banner.show()

    def show_read_only_offer(self, sentence: str) -> None:
        self.offer_banner.set_text(sentence)
        self.offer_banner.show()

    def hide_read_only_offer(self) -> None:
        self.offer_banner.hide()

    def show_status(self, text: str, ms: int = 6000) -> None:
        self.statusBar().showMessage(text, ms)

    # --- layout persistence ------------------------------------------------------------------------------

    def layout_state(self) -> dict[str, QByteArray]:
        return {
            "geometry": self.saveGeometry(),
            "window": self.saveState(),
            "main_splitter": self.splitter.saveState(),
            "live_splitter": self.live_view.splitter.saveState(),
            "chart_splitter": self.live_view.charts.saveState(),
            "symbols_splitter": self.symbols_panel.splitter.saveState(),
        }

    def _fit_first_launch(self) -> None:
        """The default 1400 x 860 on a smaller screen (a 1280 x 800 laptop) would spill over its edges."""
        screen = self.screen()
        if screen is None:
            return
        room = screen.availableGeometry()
        width, height = (
            min(self.width(), int(room.width() * 0.95)),
            min(self.height(), int(room.height() * 0.95)),
        )
        self.resize(width, height)
        panel = min(PANEL_WIDTH, width * 9 // 20)  # the live view keeps the larger part of a small screen
        self.splitter.setSizes([panel, width - panel])

    def restore_layout(self, states: dict[str, QByteArray | None]) -> None:
        if states.get("geometry") is not None:
            self.restoreGeometry(states["geometry"])
        else:
            self._fit_first_launch()
        if states.get("window") is not None:
            self.restoreState(states["window"])
        for name, splitter in (
            ("main_splitter", self.splitter),
            ("live_splitter", self.live_view.splitter),
            ("chart_splitter", self.live_view.charts),
            ("symbols_splitter", self.symbols_panel.splitter),
        ):
            if states.get(name) is not None:
                splitter.restoreState(states[name])

    # --- closing -------------------------------------------------------------------------------------

    def finish_close(self) -> None:
        """Called by the app once everything is stopped: now the window may really close."""
        self._may_close = True
        self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._may_close:
            event.accept()
            return
        event.ignore()  # shut down first (the tick in flight, the session, the database), then close
        self.statusBar().showMessage("Stopping: writing the last snapshots and closing the database…")
        self.close_requested.emit()

    def _on_toggle_recording(self) -> None:
        if not self.symbols_panel.toggle_recording_of_selected():
            self.show_status("Select a symbol first (recording needs a database open for writing).")


def _action(parent: QWidget, text: str, icon_name: str, shortcut) -> QAction:
    action = QAction(icon(icon_name), text, parent)
    if shortcut is not None:
        action.setShortcut(shortcut if isinstance(shortcut, QKeySequence) else QKeySequence(shortcut))
    return action


def find_button(box, text: str) -> QPushButton | None:
    """A button of a message box by its text (tests and the app answer offers this way)."""
    for button in box.findChildren(QPushButton):
        if button.text() == text:
            return button
    return None
