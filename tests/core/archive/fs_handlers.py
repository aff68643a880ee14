"""A pyarrow filesystem handler that passes every call to a real filesystem (`self.fs`): the archive tests'
instrumented filesystems (one that counts what is read, one that kills the store mid-upload) override a call
or two of it."""

from __future__ import annotations

import pyarrow.fs as pafs


class DelegatingHandler(pafs.FileSystemHandler):
    def __init__(self, fs: pafs.FileSystem) -> None:
        self.fs = fs

    def get_type_name(self):
        return "delegating"

    def normalize_path(self, path):
        return self.fs.normalize_path(path)

    def equals(self, other):
        return self is other

    def get_file_info(self, paths):
        return self.fs.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self.fs.get_file_info(selector)

    def create_dir(self, path, recursive):
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise OSError("the archive tests never empty a whole filesystem")

    def delete_file(self, path):
        self.fs.delete_file(path)

    def move(self, src, dest):
        self.fs.move(src, dest)

    def copy_file(self, src, dest):
        self.fs.copy_file(src, dest)

    def open_input_file(self, path):
        return self.fs.open_input_file(path)

    def open_input_stream(self, path):
        return self.fs.open_input_stream(path)

    def open_output_stream(self, path, metadata):
        return self.fs.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path, metadata):
        return self.fs.open_append_stream(path, metadata=metadata)
