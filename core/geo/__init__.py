"""Geography: distances, local projection, road networks and snapping onto them.

`distance` (haversine, LocalProjection), `network` (RoadNetwork), `loaders` (GraphML, OSM XML,
CSV pair, osmnx download, k-NN graph over known locations; `load_road_network(spec)`), `snap`
(ST-GIA's mapping step: exact, batched nearest point on the network), `paths` (shortest-path km).
"""
