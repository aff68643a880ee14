"""Run-time resources of the desktop app: Qt style sheets and icons (a package so that installs carry them)."""
