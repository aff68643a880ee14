"""The market: what the exchange says and what it means, as pure values and rules.

Wire types parsed once at the boundary (`wire`), the order book (`orderbook`), the Binance sync state machine
that decides what every event and snapshot means (`book_sync`), the markets followed (`markets`: spot and
USDⓈ-M futures, what differs between them) and the exchange endpoints (`endpoints`).

Pure: no asyncio, no clock, no I/O; time comes in as an argument. It imports nothing else of Depthbook.
"""
