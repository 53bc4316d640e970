"""The four jobs (orders, products, stock, initial) and what they share."""
