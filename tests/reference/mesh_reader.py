"""Reads mesh files with VTK's readers (the ones 3D Slicer uses) and reports, per file, what
VTK sees: points, triangles, bounds, and the open (boundary) and non-manifold edges found by
vtkFeatureEdges after merging coincident points — an independent watertightness check.

Usage: mesh_reader.py FILE…  -> one JSON object keyed by file
"""

import json
import sys

import vtk


def read(path):
    ext = path.lower().rsplit(".", 1)[-1]
    if ext == "glb":
        r = vtk.vtkGLTFReader()
        r.SetFileName(path)
        r.Update()
        it = r.GetOutput().NewIterator()
        it.InitTraversal()
        append = vtk.vtkAppendPolyData()
        while not it.IsDoneWithTraversal():
            append.AddInputData(it.GetCurrentDataObject())
            it.GoToNextItem()
        append.Update()
        return append.GetOutput()
    r = {"stl": vtk.vtkSTLReader, "ply": vtk.vtkPLYReader, "obj": vtk.vtkOBJReader}[ext]()
    r.SetFileName(path)
    r.Update()
    return r.GetOutput()


def main():
    out = {}
    for f in sys.argv[1:]:
        poly = read(f)
        clean = vtk.vtkCleanPolyData()
        clean.SetInputData(poly)
        clean.PointMergingOn()
        clean.SetTolerance(0.0)
        clean.Update()
        fe = vtk.vtkFeatureEdges()
        fe.SetInputData(clean.GetOutput())
        fe.BoundaryEdgesOn()
        fe.NonManifoldEdgesOn()
        fe.FeatureEdgesOff()
        fe.ManifoldEdgesOff()
        fe.Update()
        mass = vtk.vtkMassProperties()
        tri = vtk.vtkTriangleFilter()
        tri.SetInputData(clean.GetOutput())
        mass.SetInputConnection(tri.GetOutputPort())
        mass.Update()
        out[f] = {
            "points": clean.GetOutput().GetNumberOfPoints(),
            "cells": poly.GetNumberOfCells(),
            "bounds": list(poly.GetBounds()),
            "open_or_nonmanifold_edges": fe.GetOutput().GetNumberOfCells(),
            "volume": mass.GetVolume(),
        }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
