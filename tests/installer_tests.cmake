# Packaging: the .deb CPack makes (checked, extracted and run; installed with dpkg -i when run as root) and
# the portable bundle of tools/make_bundle.sh. Both use the programs already built; neither rebuilds.
if(NOT TARGET r1wb OR NOT CMAKE_HOST_UNIX)
  return()
endif()
set(R1WB_PACKAGED_PROGRAMS $<TARGET_FILE:r1wb>)
set(R1WB_HAVE_GUI 0)
if(TARGET r1-workbench)
  list(APPEND R1WB_PACKAGED_PROGRAMS $<TARGET_FILE:r1-workbench>)
  set(R1WB_HAVE_GUI 1)
endif()

add_test(NAME installer_deb
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/installer/test_deb.sh ${CMAKE_BINARY_DIR} ${CMAKE_CPACK_COMMAND}
                 ${R1WB_HAVE_GUI})
# dpkg takes one package operation at a time on the machine.
set_tests_properties(installer_deb PROPERTIES LABELS unit TIMEOUT 300 SKIP_RETURN_CODE 77 RESOURCE_LOCK dpkg)

add_test(NAME installer_bundle
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/installer/test_bundle.sh ${PROJECT_SOURCE_DIR} ${R1WB_PACKAGED_PROGRAMS})
set_tests_properties(installer_bundle PROPERTIES LABELS unit TIMEOUT 300)
