"""Recognition: badges (as data), nominations, kudos, the board, reports, charts and
training records. Discord-free and SQL-free: the store keeps the rows, front ends show them."""
