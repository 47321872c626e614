"""The server's periodic loops: scheduler, late marker and reapers, each safe with several
server processes on one database."""
