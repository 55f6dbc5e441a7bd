"""The public board (公开留言板) at ``/board`` on the public listener (docs/BOARD.md)."""
