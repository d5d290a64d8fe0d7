"""Artist install and health check: `mam-install` (plugins into each editor's per-user folders, enabled and
configured with the daemon's full command; default weights; optional login service) and `mam-doctor`.

It lives in the daemon's package because that is what an artist installs and runs, and the only installed code
that knows the daemon's own command line; the plugins it copies are files of the checkout (plugins/).
"""
