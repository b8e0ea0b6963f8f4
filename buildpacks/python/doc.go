// Command build is kiln's Python buildpack (id kiln/python), bin/build and,
// through a symlink, bin/detect.
//
// Detection passes when the app has requirements.txt, pyproject.toml,
// .python-version, runtime.txt or a top-level *.py file. The build:
//
//   - installs CPython from the Debian packages of the run image's suite
//     (python3.X and its libraries, leaving out what every Debian system
//     has) into a cached launch layer, choosing the newest python3.X the
//     suite has that satisfies BP_PYTHON_VERSION, .python-version,
//     runtime.txt and pyproject.toml's requires-python;
//   - installs pip (Debian's pip, setuptools and wheel wheels) into a
//     cached build layer;
//   - installs requirements.txt (or pyproject.toml's
//     [project].dependencies) with pip into a launch+cache layer keyed on
//     their hash, from the vendor/ wheel directory when there is one
//     (--no-index --find-links vendor), else from the index pip is
//     configured with (PIP_INDEX_URL, PIP_FIND_LINKS, ...);
//   - makes "python3 app.py" (or main.py) the default "web" process,
//     unless a Procfile is there to name it.
package main
