"""CRM files: read HubSpot, Salesforce and generic lead exports, write them back.

`leadq.crm.reading` turns a contacts or leads export into leadq's standard
lead columns, `leadq.crm.dates` reads the dates of such exports, and
`leadq.crm.export` writes scored leads as a CSV file that the CRM imports.
The vendors' column names and value sets live in `leadq.crm.vendors`.
"""
