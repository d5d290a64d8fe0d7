"""Matting Anything for Krita: select a subject, or matte it into a transparency mask, via the MAM daemon.

Registration only happens inside Krita; outside it (unit tests, the zip builder) the pure modules
of this package import without Krita.
"""
try:
    from krita import DockWidgetFactory, DockWidgetFactoryBase, Krita
except ImportError:
    Krita = None

if Krita is not None:
    from .docker import DOCKER_ID, MamDocker
    from .extension import MamExtension

    Krita.instance().addExtension(MamExtension(Krita.instance()))
    Krita.instance().addDockWidgetFactory(
        DockWidgetFactory(DOCKER_ID, DockWidgetFactoryBase.DockRight, MamDocker))
