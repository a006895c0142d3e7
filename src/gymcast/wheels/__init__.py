"""The pinned Pyodide-side inputs of every bundle, and the fetcher that gets and verifies them."""

from gymcast.wheels.fetch import Fetcher, FetchError, IntegrityError
from gymcast.wheels.pins import NpmPackagePin, PinnedFile, Pins, load_pins

__all__ = ["Fetcher", "IntegrityError", "FetchError", "Pins", "PinnedFile", "NpmPackagePin", "load_pins"]
