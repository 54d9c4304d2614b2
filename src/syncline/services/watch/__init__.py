"""Real-time mirroring: changes seen by inotify (watchdog) pushed to targets folder by folder."""
