"""Sphinx configuration of nova-freeze's documentation (``make docs``)."""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
sys.path.insert(0, ROOT)  # this checkout's freeze, not an installed one
sys.path.insert(0, os.path.join(os.path.dirname(__file__), '_ext'))

project = 'nova-freeze'
copyright = 'nova-freeze authors'
extensions = [
    'myst_parser',            # the guides, moved from the README
    'oslo_config.sphinxext',  # the configuration reference
    'cliff.sphinxext',        # the CLI reference
    'cliff_app',              # ... of commands named by an App (_ext/)
    'reno.sphinxext',         # the release notes
]
source_suffix = {'.rst': 'restructuredtext', '.md': 'markdown'}
myst_heading_anchors = 3
exclude_patterns = []
html_theme = 'alabaster'
autoprogram_cliff_ignored = ['--help']
