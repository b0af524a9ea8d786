#!/usr/bin/env python3
"""Checks that the docs name real things: every `src/…`, `tests/…` (and
other repository) path in README.md, SECURITY.md, CHANGELOG.md's newest
entry and docs/*.md exists, and every test or item named after it
(`path::name`, or `::name` after a path on the same line) appears in that
file. Exit 1, listing each stale reference, when one does not.

    python3 scripts/doc-refs.py
"""

import glob
import os
import re
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
bad=[]
for doc in ['README.md','SECURITY.md','CHANGELOG.md']+sorted(glob.glob('docs/*.md')):
    text=open(doc).read()
    if doc=='CHANGELOG.md':
        # Older entries describe the code as it was.
        parts=re.split(r'\n(?=## )',text)
        text=parts[1] if len(parts)>1 else text
    for line_no,line in enumerate(text.split('\n'),1):
        last=None
        for m in re.finditer(r'`((?:src|tests|benches|scripts|fuzz|infra|bench)/[\w./-]+?)(?:::([\w:]+))?`|`::(\w+)`', line):
            path,names,cont=m.group(1),m.group(2),m.group(3)
            if path:
                last=path
                if not os.path.exists(path):
                    bad.append((doc,line_no,path,'missing file')); continue
                if names and os.path.isfile(path):
                    n=names.split('::')[-1]
                    if n not in open(path).read():
                        # maybe in submodule folder
                        bad.append((doc,line_no,path+'::'+names,'name not found'))
            elif cont and last and os.path.isfile(last):
                src=open(last).read()
                if cont not in src:
                    # search tests folder of module
                    bad.append((doc,line_no,last+'::'+cont,'cont not found'))
for b in bad:
    print(*b)
if bad:
    sys.exit(1)
print('doc references: all found')
