# The sha256 of files on the controller, for the satchel role.
from __future__ import annotations

DOCUMENTATION = r"""
name: satchel_sha256
short_description: sha256 of files on the controller
description:
  - For each path, a dict with C(path), the file found (a relative path is looked up like
    the copy module's src, in the role's and the playbook's files/ directories, then the
    working directory), and C(sha256), its lowercase hex sha256, or an empty string when
    there is no readable regular file there (the role reports it by name).
options:
  _terms:
    description: paths on the controller
    required: true
"""

import hashlib
import os

from ansible.plugins.lookup import LookupBase


def sha256_of(path):
    if not os.path.isfile(path):
        return ""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def _flatten(terms):
    for t in terms:
        if isinstance(t, (list, tuple)):
            yield from _flatten(t)
        else:
            yield t


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        out = []
        for t in _flatten(terms):
            p = os.path.expanduser(str(t))
            if not os.path.isabs(p):
                p = self.find_file_in_search_path(variables, "files", p, ignore_missing=True) or p
            out.append({"path": p, "sha256": sha256_of(p)})
        return out
