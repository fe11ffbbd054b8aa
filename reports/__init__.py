"""Reports people read: the lecture's exercises worked through, and the command line."""
