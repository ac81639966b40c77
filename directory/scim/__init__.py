"""SCIM 2.0 (RFC 7643, RFC 7644) as IAM Identity Center implements it (DOMAIN.md §8, CONTRACTS.md "SCIM 2.0").

A thin door onto the directory services, in plain Django views under `/scim/v2/`:

- protocol.py     URNs, the SCIM error (`ScimError`) and the JSON responses with their content type
- filters.py      the `filter` parameter and PATCH paths: `eq` joined by `and`, value filters `attr[sub eq "x"]`
- schema.py       what the server publishes: ServiceProviderConfig, Schemas, ResourceTypes
- serializers.py  users and groups to SCIM resources and back (POST and PUT bodies), attribute selection
- patch.py        PATCH operations applied to a user's fields or a group's fields and members
- views.py        the endpoints: bearer-token authentication, lists, one resource, writes through the services
- pages.py        the console side: SCIM tokens and provisioning activity on the Identity Center page
"""
