"""Generic steps every data team reaches for: the glue between the hotel-specific ones.

ms-http-request   call an HTTP API through the one guarded outbound client (`request_step`)
ms-sql            a parameterised SQL statement in the warehouse (`sql_step`)
ms-data-quality   declarative checks on a table or a step's output (`quality_step`)
ms-transform      declarative map / filter / aggregate / normalise (`transform_step`)

Config models live in light modules (`*_config`): the controller and `mhi validate` import them
without pandas, DuckDB or a Google client.
"""
