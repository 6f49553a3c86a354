"""Azure Table Storage: tables, entities, OData queries and entity group transactions."""
