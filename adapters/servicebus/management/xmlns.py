"""XML namespaces and media types of the management API."""

ATOM = "http://www.w3.org/2005/Atom"
SERVICEBUS = "http://schemas.microsoft.com/netservices/2010/10/servicebus/connect"
"""Every ``*Description`` element and its children."""
COUNT_DETAILS = "http://schemas.microsoft.com/netservices/2011/06/servicebus"
"""The children of ``CountDetails``."""
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"

ENTRY_CONTENT_TYPE = "application/atom+xml;type=entry;charset=utf-8"
FEED_CONTENT_TYPE = "application/atom+xml;type=feed;charset=utf-8"
