"""Client onboarding: ready-to-run VPN settings for Windows, macOS/iOS, Linux and Android.

``ikel2tp client-config OS [USER]`` (:mod:`ikel2tp.cli.client_config`) resolves the inputs from the
server configuration (:func:`~ikel2tp.onboarding.common.resolve`), calls the generator of :data:`GENERATORS`
for the OS and writes the files 0600 (:func:`~ikel2tp.onboarding.common.write_bundle`).
"""

from __future__ import annotations

from collections.abc import Callable

from ikel2tp.onboarding import android, apple, linux, windows
from ikel2tp.onboarding.common import Bundle, ClientInputs, OnboardingError, resolve, write_bundle
from ikel2tp.onboarding.offers import linux_proposals

# OS name -> generator.  macOS and iOS share the configuration profile.
GENERATORS: dict[str, Callable[..., Bundle]] = {
    "windows": windows.generate,
    "macos": apple.generate,
    "ios": apple.generate,
    "linux": linux.generate,
    "android": android.generate,
}

__all__ = ["GENERATORS", "Bundle", "ClientInputs", "OnboardingError", "linux_proposals", "resolve",
           "write_bundle"]
