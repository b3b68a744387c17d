"""The switch: registrar and forking B2BUA for shared numbers, sans-IO."""
